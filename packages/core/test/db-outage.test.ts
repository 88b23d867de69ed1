// A database outage is not a fleet outage. Two control-plane processes share Postgres, with two
// agents linked to one and one to the other. With Postgres stopped for 30 s while the agents stay
// linked and beating, no host is marked offline and no host.offline webhook fires, and each
// process's /healthz says 503 (a load balancer stops sending it work). Once Postgres is back, both
// say 200 again by themselves, both are registered replicas again, a command through one process
// reaches the host linked to the other, and every host is online with a fresh heartbeat. The test
// runs its own embedded cluster, stopped and started as an operator's restart would.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { JoinResponse } from "@berth/protocol";
import { ensureDatabase, startEmbeddedPostgres, type PostgresHandle } from "../../../scripts/postgres.ts";
import { deployMigrations } from "../../../scripts/migrate.ts";
import { repoRoot } from "../../../scripts/paths.ts";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent, type SimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";

// Under the repo, as npm start's data dir: the postgres user must be able to reach it.
const dir = mkdtempSync(join(repoRoot, ".berth-outage-test-"));
chmodSync(dir, 0o711);
let pg: PostgresHandle;
let t: TestControlPlane;
let u: TestControlPlane;
let owner: UserClient;
let receiver: Server;
const hooks: string[] = [];
const agents: SimAgent[] = [];

before(async () => {
  pg = await startEmbeddedPostgres(join(dir, "pg"));
  await ensureDatabase(pg.adminUrl, "berth");
  await deployMigrations(pg.urlFor("berth"));
  t = await startTestControlPlane({ offlineAfterMs: 5_000, database: { url: pg.urlFor("berth"), drop: async () => undefined } });
  owner = await t.signUp("outage-owner@example.com");
  // The second process starts once the owner exists (each one started before that makes a new setup link).
  u = await startTestControlPlane({ offlineAfterMs: 5_000, database: { url: pg.urlFor("berth"), drop: async () => undefined } });
  receiver = createServer((req, res) => {
    req.resume();
    hooks.push(String(req.headers["x-berth-event"]));
    res.end();
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.1"] });
  await owner.trpc.webhooks.create.mutate({
    teamId,
    name: "fleet",
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
    events: ["host.offline", "host.online"],
  });
});

after(async () => {
  for (const a of agents) a.close();
  await u?.close().catch(() => undefined);
  await t?.close().catch(() => undefined);
  await new Promise((r) => receiver?.close(r));
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("Postgres away for 30 s: linked hosts stay online, no host.offline fires, and both processes are whole afterwards", {
  timeout: 120_000,
}, async () => {
  const ids: string[] = [];
  for (const [name, cp] of [
    ["db-a", t],
    ["db-b", t],
    ["db-c", u],
  ] as const) {
    const { token } = await owner.trpc.joinTokens.create.mutate({});
    const { hostId, credential } = (await joinWithToken(cp.url, token, name)).body as JoinResponse;
    const a = await linkedSimAgent(cp.url, credential, name);
    a.startHeartbeats(1_000);
    agents.push(a);
    ids.push(hostId);
  }
  await waitFor("all online", async () => (await t.cp.db.host.count({ where: { id: { in: ids }, status: "online" } })) === 3, 10_000);
  await waitFor("the three host.online notices delivered", async () => hooks.filter((h) => h === "host.online").length === 3, 15_000);
  await waitFor(
    "no webhook delivery still pending",
    async () => (await t.cp.db.webhookDelivery.count({ where: { status: "pending" } })) === 0,
    15_000,
  );
  hooks.length = 0;

  await pg.stop();
  const down = Date.now();
  // The behaviour under test is time passing: 30 s without a database, checked every 2 s.
  const health: Array<{ at: number; a: number; b: number }> = [];
  while (Date.now() - down < 30_000) {
    // Each process keeps its links, and says on /healthz that it cannot take work (a load
    // balancer then sends it none) once its beats have failed for a few seconds.
    const [a, b] = await Promise.all([t, u].map(async (cp) => (await fetch(`${cp.url}/healthz`)).status));
    health.push({ at: Date.now() - down, a: a!, b: b! });
    assert.equal(t.cp.gateway.connectedCount(), 2);
    assert.equal(u.cp.gateway.connectedCount(), 1);
    await sleep(2_000);
  }
  const late = health.filter((h) => h.at > 8_000);
  assert.deepEqual(
    late.map((h) => [h.a, h.b]),
    late.map(() => [503, 503]),
    `unhealthy without its database: ${JSON.stringify(health)}`,
  );
  pg = await startEmbeddedPostgres(join(dir, "pg"));
  for (const cp of [t, u]) await waitFor("healthy again", async () => (await fetch(`${cp.url}/healthz`)).status === 200, 20_000, 250);

  await waitFor("the control plane using the database again", async () => (await t.cp.db.host.count().catch(() => -1)) >= 3, 20_000, 500);
  const back = new Date();
  await waitFor(
    "heartbeats stored again",
    async () => (await t.cp.db.host.count({ where: { id: { in: ids }, lastSeenAt: { gt: back } } })) === 3,
    20_000,
    250,
  );
  // The behaviour under test is time passing: longer than the offline threshold (5 s) and a few
  // flushes, time enough for a wrong sweep to act.
  await sleep(8_000);
  const hosts = await t.cp.db.host.findMany({ where: { id: { in: ids } } });
  assert.deepEqual(
    hosts.map((h) => h.status),
    ["online", "online", "online"],
  );
  for (const h of hosts) assert.ok(Date.now() - h.lastSeenAt!.getTime() < 5_000, `${h.name} has a fresh heartbeat`);
  assert.equal(await t.cp.db.webhookDelivery.count({ where: { event: "host.offline" } }), 0, "no host.offline was queued");
  assert.deepEqual(hooks, [], "no webhook fired");
  assert.ok(
    agents.every((a) => a.ws.readyState === a.ws.OPEN),
    "every link stayed up",
  );
  // Both processes are registered again, and each reaches the other's host.
  assert.equal(await t.cp.db.controlPlaneReplica.count({ where: { heartbeatAt: { gt: back } } }), 2);
  assert.deepEqual(await t.cp.gateway.command(ids[2]!, "ping", {}).then((r) => r.pong), true);
  assert.deepEqual(await u.cp.gateway.command(ids[0]!, "ping", {}).then((r) => r.pong), true);
});
