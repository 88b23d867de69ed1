// The agent gateway over real WebSockets and Postgres: authentication, frame validation,
// liveness, revocation. The server must survive every bad input.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createJoinToken, ensureDefaultTeam, isDomainError, type DomainError } from "../src/index.ts";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";
import { connectSimAgent, defaultResponder, joinWithToken, linkedSimAgent, SIM_PULLED_IMAGE } from "@berth/test-support/sim-agent";
import { waitFor, within } from "@berth/test-support/wait";
import type { CommandProgress, JoinResponse, StreamDataOf } from "@berth/protocol";

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
  const pong = await t.cp.gateway.command(h.hostId, "ping", {});
  assert.deepEqual([pong.pong, pong.agentVersion], [true, "0.1.0-sim"]);
  a.close();
});

test("a reply that does not match its command's schema fails that command with UPSTREAM; the link stays up", async () => {
  const h = await newHost("gw-bad-reply");
  const a = await linkedSimAgent(t.url, h.credential);
  a.startHeartbeats(500);
  a.respond = (c, answer) => (c.command === "containers.create" ? answer.reply({ Id: 42, Warnings: [] }) : defaultResponder(c, answer));
  await assert.rejects(t.cp.gateway.command(h.hostId, "containers.create", { config: { Image: "busybox" } }), (e: unknown) => {
    assert.ok(isDomainError(e), String(e));
    assert.equal(e.code, "UPSTREAM");
    assert.match(e.message, /^agent answered containers\.create with an invalid reply: Id: /);
    return true;
  });
  // Not an object at all, and a list with one bad entry: the same, naming where.
  a.respond = (c, answer) => answer.reply(c.command === "containers.list" ? [{ Id: "x" }] : "pong");
  await assert.rejects(t.cp.gateway.command(h.hostId, "ping", {}), /agent answered ping with an invalid reply: \(root\): /);
  await assert.rejects(
    t.cp.gateway.command(h.hostId, "containers.list", {}),
    /agent answered containers\.list with an invalid reply: 0\.Names: /,
  );
  // The agent's own errors still map as before.
  a.respond = (_c, answer) => answer.fail("NOT_FOUND", "no such container: nope");
  await assert.rejects(
    t.cp.gateway.command(h.hostId, "containers.start", { id: "nope" }),
    (e: unknown) => isDomainError(e) && e.code === "NOT_FOUND",
  );
  assert.equal(t.cp.gateway.isConnected(h.hostId), true);
  assert.equal(a.ws.readyState, a.ws.OPEN);
  a.respond = defaultResponder;
  assert.equal((await t.cp.gateway.command(h.hostId, "ping", {})).pong, true);
  await serverStillUp();
  a.close();
});

test("progress is checked: valid items reach onProgress, invalid ones are left out, and the command goes on", async () => {
  const h = await newHost("gw-progress");
  const a = await linkedSimAgent(t.url, h.credential);
  a.respond = (_c, answer) => {
    answer.progress({ id: "l1", status: "Downloading", current: 1, total: 2 });
    answer.progress({ id: "l1", status: "Teleporting" });
    answer.progress({ id: "l1", status: "Pull complete" });
    answer.reply(SIM_PULLED_IMAGE);
  };
  const seen: Array<CommandProgress<"images.pull">> = [];
  const image = await t.cp.gateway.command(
    h.hostId,
    "images.pull",
    { reference: "busybox", registry: null },
    { onProgress: (p) => seen.push(p) },
  );
  assert.deepEqual(image, SIM_PULLED_IMAGE);
  assert.deepEqual(seen, [
    { id: "l1", status: "Downloading", current: 1, total: 2 },
    { id: "l1", status: "Pull complete" },
  ]);
  assert.equal(t.cp.gateway.isConnected(h.hostId), true);
  a.close();
});

test("stream data that does not match its kind ends that stream with UPSTREAM; the link and other streams go on", async () => {
  const h = await newHost("gw-bad-stream");
  const a = await linkedSimAgent(t.url, h.credential);
  a.startHeartbeats(500);
  const logLines: Array<StreamDataOf<"logs">> = [];
  const output: Array<StreamDataOf<"exec">> = [];
  let logsEnded!: (e: DomainError | undefined) => void;
  const logsEnd = new Promise<DomainError | undefined>((r) => (logsEnded = r));
  const logs = t.cp.gateway.openStream(h.hostId, "logs", { id: "c1" }, 4, { data: (d) => logLines.push(d), end: logsEnded });
  const exec = t.cp.gateway.openStream(h.hostId, "exec", { id: "c1", cmd: ["sh"] }, 4, {
    data: (d) => output.push(d),
    end: () => undefined,
  });
  await waitFor("both streams open on the agent", () => a.streams.some((s) => s.id === logs.id) && a.streams.some((s) => s.id === exec.id));
  const data = (id: string, d: unknown) => a.sendRaw(JSON.stringify({ type: "stream.data", id, data: d }));

  data(logs.id, { lines: [["1-0", "o", "2026-01-01T00:00:00Z", "hi\n"]] });
  await waitFor("the good frame", () => logLines.length === 1);
  data(logs.id, { lines: [["2-0", "stdout", "2026-01-01T00:00:00Z", "hi\n"]] });
  const error = await within("the logs stream to end", logsEnd, 5_000);
  assert.equal(error?.code, "UPSTREAM");
  assert.match(error?.message ?? "", /^agent sent invalid logs stream data: lines\.0\.1: /);
  assert.deepEqual(logLines, [{ lines: [["1-0", "o", "2026-01-01T00:00:00Z", "hi\n"]] }]);
  await waitFor("the agent told to stop the stream", () => a.closedStreams.includes(logs.id));

  data(exec.id, { o: "still here" });
  await waitFor("the other stream's frame", () => output.length === 1);
  assert.deepEqual(output, [{ o: "still here" }]);
  assert.equal(t.cp.gateway.isConnected(h.hostId), true);
  assert.equal(a.ws.readyState, a.ws.OPEN);
  exec.close();
  await serverStillUp();
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
  await waitFor(
    "lastSeenAt to advance",
    async () => (await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } })).lastSeenAt! > first,
  );
  // The behaviour under test is time passing: over twice the offline timeout (2 s), the beating
  // host never goes offline.
  const until = Date.now() + 4_500;
  while (Date.now() < until) {
    assert.equal(await status(h.hostId), "online", "a beating host stays online");
    await new Promise((r) => setTimeout(r, 250));
  }
  a.close();
});

test("revoking a credential disconnects the host at once and refuses every reconnect", async () => {
  const h = await newHost("gw-revoke");
  const a = await linkedSimAgent(t.url, h.credential, "gw-revoke");
  const bystander = await newHost("gw-revoke-bystander");
  const b = await linkedSimAgent(t.url, bystander.credential, "gw-revoke-bystander");
  // As an admin does it (the owner, here): the API revokes the credential, and the control plane closes the link.
  const owner = await t.signUp("gw-owner@example.com");
  assert.deepEqual(await owner.trpc.hosts.revokeCredential.mutate({ id: h.hostId }), { revoked: 1 });
  // At once: well before the gateway's fallback terminate (1 s) or any heartbeat timeout.
  const closed = await within("the revoked host's link to close", a.closed, 900);
  assert.deepEqual(closed, { code: 4401, reason: "host credential revoked" });
  assert.equal(t.cp.gateway.isConnected(h.hostId), false);
  assert.equal(await status(h.hostId), "offline");
  await assert.rejects(t.cp.gateway.command(h.hostId, "ping", {}), /host is not connected/);
  for (let i = 0; i < 3; i++) assert.equal(await connectSimAgent(t.url, h.credential).opened, 401);
  // Only that host: another host's link and credential are untouched.
  assert.equal(t.cp.gateway.isConnected(bystander.hostId), true);
  assert.equal(b.ws.readyState, b.ws.OPEN);
  assert.equal(await status(bystander.hostId), "online");
  b.close();
  const again = connectSimAgent(t.url, bystander.credential);
  assert.equal(await again.opened, "open", "the other host's credential still links");
  again.close();
});

test("a facts frame updates the host's facts", async () => {
  const h = await newHost("gw-facts");
  const a = await linkedSimAgent(t.url, h.credential, "gw-facts");
  const { fakeFacts } = await import("@berth/test-support/facts");
  a.sendRaw(JSON.stringify({ type: "facts", facts: { ...fakeFacts("gw-facts"), cpus: 64 } }));
  await waitFor(
    "facts updated",
    async () => ((await t.cp.db.host.findUniqueOrThrow({ where: { id: h.hostId } })).facts as { cpus: number }).cpus === 64,
  );
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
  assert.equal((await t.cp.gateway.command(calm.hostId, "ping", {})).pong, true);
  await serverStillUp();
  c.close();
});
