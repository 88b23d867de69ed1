// Lab: two control-plane processes on one Postgres, two network-namespace hosts with real agents
// that know both addresses. The first process leads the reconciler; it is SIGKILLed in the middle
// of a rolling update. The agents re-link to the other process, which takes the lead and finishes
// the update: every slot ends on the new version, each with one running task.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Agent, setGlobalDispatcher } from "undici";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { inviteOf, signUp, trpcClient, type UserClient } from "@berth/test-support/control-plane";
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";

let lab: Lab;
let database: TestDatabase;
let first: ControlPlaneProcess;
let second: ControlPlaneProcess;
let mirror: TestRegistry;
const agents: TestAgent[] = [];
const tmp = mkdtempSync(join(tmpdir(), "berth-failover-"));

/** Which process holds the reconciler's lock, as Postgres sees it (the leader's connection is named for its job). */
async function leaderConnections(): Promise<number> {
  const c = new pg.Client({ connectionString: database.url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(
      `select count(*) as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
       where l.locktype = 'advisory' and a.application_name = 'berth-leader-reconciler'`,
    );
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}

before(async () => {
  lab = await createLab(2);
  database = await createTestDatabase();
  const dataDir = join(tmp, "control-plane");
  const env = { LOG_LEVEL: "info" };
  first = await startControlPlaneProcess({ database, host: lab.gateway, dataDir, env });
  // The first process leads before the second starts.
  await waitFor("the first process leads", async () => (await leaderConnections()) === 1, 30_000, 200);
  // With no owner yet, each process that starts makes a new setup link and revokes the older one.
  second = await startControlPlaneProcess({ database, host: lab.gateway, dataDir, env });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(first.caFile!) } }));
  mirror = await startRegistry({ host: lab.gateway });
  await seedBusybox(mirror, tmp);
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await second?.stop();
  await first?.stop();
  await mirror?.stop();
  await lab?.destroy();
  await database?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

test("the leader dies in the middle of a rolling update; the other process takes over and finishes it", { timeout: 240_000 }, async () => {
  const owner: UserClient = await signUp(first.url, "failover-owner@example.com", "failover-password", inviteOf(second.setupLink));
  // The same session, through the other process: both check it against the one database.
  const viaSecond = trpcClient(second.url, owner.cookie);
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 2, expiresInSeconds: 600 });
  for (const h of lab.hosts) {
    agents.push(
      spawnAgent({
        url: `${first.url},${second.url}`,
        token,
        stateDir: join(tmp, h.name),
        name: h.name,
        netns: h.netns,
        registryMirror: mirror.url,
      }),
    );
  }
  await waitFor(
    "both hosts linked to the first process",
    async () => (await owner.trpc.hosts.list.query()).filter((h) => h.connected).length === 2,
    60_000,
    250,
  );

  const task = { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500, env: ["V=1"] };
  // One slot at a time, each watched for a second and followed by a second's pause: about ten
  // seconds of update, with the kill in its first half.
  const updateConfig = { parallelism: 1, delayMs: 1000, monitorMs: 1000, order: "stop-first" } as const;
  const mode = { kind: "replicated", replicas: 4 } as const;
  const svc = await owner.trpc.services.create.mutate({ teamId, spec: { name: "steady", task, mode, updateConfig } });
  const running = async (client: typeof owner.trpc) =>
    (await client.services.tasks.query({ id: svc.id })).filter((t) => t.desiredState === "running" && t.state === "running");
  await waitFor("4 tasks running", async () => (await running(owner.trpc)).length === 4, 60_000, 200);

  const v2 = await owner.trpc.services.update.mutate({
    id: svc.id,
    version: 1,
    spec: { name: "steady", task: { ...task, env: ["V=2"] }, mode, updateConfig },
  });
  assert.equal(v2.updateState, "updating");
  await waitFor("the first new task runs", async () => (await running(owner.trpc)).some((t) => t.version === 2), 60_000, 100);
  const mid = await owner.trpc.services.get.query({ id: svc.id });
  assert.equal(mid.updateState, "updating", "the kill comes before the update is done");

  await first.kill();
  const killedAt = Date.now();
  await waitFor("the second process leads", async () => (await leaderConnections()) === 1, 30_000, 200);
  const tookOver = Date.now() - killedAt;
  await waitFor(
    "both hosts re-linked to the second process",
    async () => (await viaSecond.hosts.list.query()).filter((h) => h.connected && h.status === "online").length === 2,
    30_000,
    200,
  );
  const relinked = Date.now() - killedAt;
  let last: Awaited<ReturnType<typeof running>> = [];
  await waitFor(
    "the update completed by the second process",
    async () => {
      last = await running(viaSecond);
      return (await viaSecond.services.get.query({ id: svc.id })).updateState === "completed" && last.length === 4;
    },
    90_000,
    200,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}; running: ${JSON.stringify(last.map((t) => [t.slot, t.version, t.state]))}`);
  });
  console.log(
    `# leader killed: new leader after ${tookOver} ms, hosts re-linked after ${relinked} ms, update completed after ${Date.now() - killedAt} ms`,
  );
  assert.ok(relinked < 10_000, `agents re-linked within 10 s (${relinked} ms)`);
  assert.deepEqual(last.map((t) => t.slot).sort(), [1, 2, 3, 4], "one running task per slot");
  assert.ok(
    last.every((t) => t.version === 2),
    "every slot runs the new version",
  );
  // Nothing from the old version is left running on the hosts.
  const hosts = await viaSecond.hosts.list.query();
  let containers = 0;
  for (const h of hosts) {
    const list = await viaSecond.containers.list.query({ hostId: h.id, all: false });
    containers += list.filter((c) => c.Labels?.["com.docker.swarm.service.id"] === svc.id).length;
  }
  assert.equal(containers, 4);
  await viaSecond.services.remove.mutate({ id: svc.id });
});
