// The agent gateway over real WebSockets and Postgres: authentication, frame validation,
// liveness, revocation. The server must survive every bad input.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createJoinToken, ensureDefaultTeam, revokeHostCredentials } from "../src/index.ts";
import { startTestControlPlane, type TestControlPlane } from "../../../e2e/support/control-plane.ts";
import { connectSimAgent, joinWithToken, linkedSimAgent } from "../../../e2e/support/sim-agent.ts";
import { waitFor } from "../../../e2e/support/wait.ts";
import type { JoinResponse } from "@berth/protocol";

let t: TestControlPlane;

before(async () => {
  t = await startTestControlPlane({ offlineAfterMs: 2_000 });
});
after(async () => {
  await t.close();
});

async function newHost(name: string): Promise<JoinResponse> {
  const team = await ensureDefaultTeam(t.cp.db);
  const { token } = await createJoinToken(t.cp.db, { teamId: team.id, fingerprint: null });
  const r = await joinWithToken(t.url, token, name);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as JoinResponse;
}

async function serverStillUp(): Promise<void> {
  const res = await fetch(`${t.url}/healthz`);
  assert.equal(res.status, 200);
}

const status = async (id: string) => (await t.cp.db.host.findUniqueOrThrow({ where: { id } })).status;

test("hello brings a host online with its facts and agent version", async () => {
  const h = await newHost("gw-hello");
  const a = await linkedSimAgent(t.url, h.credential, "gw-hello");
  const row = await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } });
  assert.equal(row.status, "online");
  assert.equal(row.agentVersion, "0.1.0-sim");
  assert.equal((row.facts as { hostname: string }).hostname, "gw-hello");
  assert.equal(t.cp.gateway.isConnected(h.hostId), true);
  a.close();
});

test("commands round-trip over the link", async () => {
  const h = await newHost("gw-cmd");
  const a = await linkedSimAgent(t.url, h.credential);
  assert.deepEqual(await t.cp.gateway.command(h.hostId, "ping", {}), { pong: true, command: "ping" });
  a.close();
});

test("a link without a credential, or with a wrong one, is refused with 401", async () => {
  assert.equal(await connectSimAgent(t.url, "").opened, 401);
  assert.equal(await connectSimAgent(t.url, "abc.def").opened, 401);
  const h = await newHost("gw-wrong");
  const [id] = h.credential.split(".");
  assert.equal(await connectSimAgent(t.url, `${id}.${"0".repeat(64)}`).opened, 401);
  await serverStillUp();
});

test("a malformed frame closes that connection only, with the reason", async () => {
  const good = await newHost("gw-good");
  const bystander = await linkedSimAgent(t.url, good.credential);
  const h = await newHost("gw-bad");
  const a = await linkedSimAgent(t.url, h.credential);
  a.sendRaw("{this is not json");
  const closed = await a.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /not valid JSON/);
  const b = await linkedSimAgent(t.url, h.credential);
  b.sendRaw(JSON.stringify({ type: "heartbeat", at: "yesterday" }));
  const closed2 = await b.closed;
  assert.equal(closed2.code, 1008);
  assert.match(closed2.reason, /invalid frame at at/);
  await serverStillUp();
  assert.equal(t.cp.gateway.isConnected(good.hostId), true, "the other agent stays connected");
  bystander.close();
});

test("the first frame must be hello", async () => {
  const h = await newHost("gw-order");
  const a = connectSimAgent(t.url, h.credential);
  assert.equal(await a.opened, "open");
  a.heartbeat();
  const closed = await a.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /first frame must be hello/);
});

test("an oversized frame (over 1 MiB) closes the connection with 1009 and the server stays up", async () => {
  const h = await newHost("gw-big");
  const a = await linkedSimAgent(t.url, h.credential);
  a.sendRaw(JSON.stringify({ type: "heartbeat", at: 1, pad: "x".repeat(1024 * 1024 + 10) }));
  const closed = await a.closed;
  assert.equal(closed.code, 1009);
  await serverStillUp();
  const again = await linkedSimAgent(t.url, h.credential);
  assert.equal(t.cp.gateway.isConnected(h.hostId), true);
  again.close();
});

test("binary frames are refused", async () => {
  const h = await newHost("gw-bin");
  const a = await linkedSimAgent(t.url, h.credential);
  a.sendRaw(Buffer.from([1, 2, 3]));
  assert.equal((await a.closed).code, 1008);
});

test("a silent host goes offline after the heartbeat timeout and online again on reconnect", async () => {
  const h = await newHost("gw-silent");
  const a = await linkedSimAgent(t.url, h.credential);
  assert.equal(await status(h.hostId), "online");
  // no heartbeats: offline after 2 s (this control plane's setting)
  await waitFor("host offline", async () => (await status(h.hostId)) === "offline", 8_000);
  a.close();
  const b = await linkedSimAgent(t.url, h.credential);
  assert.equal(await status(h.hostId), "online");
  b.close();
});

test("heartbeats keep a host online and update lastSeenAt", async () => {
  const h = await newHost("gw-beat");
  const a = await linkedSimAgent(t.url, h.credential);
  a.startHeartbeats(300);
  const first = (await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } })).lastSeenAt!;
  await new Promise((r) => setTimeout(r, 4_500));
  const row = await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } });
  assert.equal(row.status, "online");
  assert.ok(row.lastSeenAt! > first, "lastSeenAt advanced");
  a.close();
});

test("revoking a credential disconnects the host at once and refuses every reconnect", async () => {
  const h = await newHost("gw-revoke");
  const a = await linkedSimAgent(t.url, h.credential);
  await revokeHostCredentials(t.cp.db, h.hostId);
  t.cp.gateway.disconnect(h.hostId);
  const closed = await a.closed;
  assert.equal(closed.code, 4401);
  for (let i = 0; i < 3; i++) assert.equal(await connectSimAgent(t.url, h.credential).opened, 401);
});

test("a facts frame updates the host's facts", async () => {
  const h = await newHost("gw-facts");
  const a = await linkedSimAgent(t.url, h.credential, "gw-facts");
  const { fakeFacts } = await import("../../../e2e/support/facts.ts");
  a.sendRaw(JSON.stringify({ type: "facts", facts: { ...fakeFacts("gw-facts"), cpus: 64 } }));
  await waitFor("facts updated", async () => ((await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } })).facts as { cpus: number }).cpus === 64);
  a.close();
});

test("a host that floods frames is cut off; other hosts' links and the server carry on", async () => {
  const flooder = await newHost("gw-flood");
  const calm = await newHost("gw-calm");
  const f = await linkedSimAgent(t.url, flooder.credential, "gw-flood");
  const c = await linkedSimAgent(t.url, calm.credential, "gw-calm");
  const beat = JSON.stringify({ type: "heartbeat", at: Date.now() });
  for (let i = 0; i < 20_000 && f.ws.readyState === f.ws.OPEN; i++) f.sendRaw(beat);
  const closed = await f.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /over 2000 frames a second/);
  assert.equal(t.cp.gateway.isConnected(calm.hostId), true);
  assert.deepEqual(await t.cp.gateway.command(calm.hostId, "ping", {}), { pong: true, command: "ping" });
  await serverStillUp();
  c.close();
});
