// Lab: services on three network-namespace hosts, each with a real agent and runc. The
// reconciler places replicas (spread, constraints, global mode), replaces a task whose container
// dies in the same slot, scales, and removes every container when the service goes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, setGlobalDispatcher } from "undici";
import { createLab, type Lab } from "@berth/test-support/lab";
import { startTestControlPlane, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { freeLoopbackPort } from "../../scripts/postgres.ts";

let lab: Lab;
let t: TestControlPlane;
let owner: UserClient;
let mirror: TestRegistry;
let teamId: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-services-"));
const agents: TestAgent[] = [];
/** Lab host name → host id. */
const hostIds = new Map<string, string>();

before(async () => {
  lab = await createLab(3);
  t = await startTestControlPlane({ host: lab.gateway, port: await freeLoopbackPort() });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(t.env.TLS_CERT_FILE!) } }));
  owner = await t.signUp("services-owner@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  mirror = await startRegistry({ host: lab.gateway });
  await seedBusybox(mirror, tmp);
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
  for (const h of lab.hosts) {
    agents.push(spawnAgent({ url: t.url, token, stateDir: join(tmp, h.name), name: h.name, netns: h.netns, registryMirror: mirror.url }));
  }
  await waitFor(
    "three hosts linked",
    async () => {
      const hosts = await owner.trpc.hosts.list.query();
      for (const h of hosts) if (h.connected) hostIds.set(h.name, h.id);
      return hostIds.size === 3;
    },
    60_000,
    250,
  );
  await owner.trpc.hosts.setLabels.mutate({ id: hostIds.get("lab-h1")!, labels: { zone: "a" } });
  await owner.trpc.hosts.setLabels.mutate({ id: hostIds.get("lab-h2")!, labels: { zone: "b" } });
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await t?.close();
  await mirror?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

type Task = Awaited<ReturnType<UserClient["trpc"]["services"]["tasks"]["query"]>>[number];

async function runningTasks(serviceId: string): Promise<Task[]> {
  return (await owner.trpc.services.tasks.query({ id: serviceId })).filter((x) => x.desiredState === "running" && x.state === "running");
}

/** Waits until the service runs `n` tasks, and gives them. */
async function untilRunning(serviceId: string, n: number, timeoutMs = 60_000): Promise<Task[]> {
  let last: Task[] = [];
  return waitFor(
    `${n} tasks running`,
    async () => {
      last = await runningTasks(serviceId);
      return last.length === n ? last : null;
    },
    timeoutMs,
    200,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}; running: ${JSON.stringify(last.map((x) => [x.slot, x.host?.name, x.state, x.message]))}`);
  });
}

/** The task containers a host's agent runs for a service (what the host says, not the records). */
async function containersOf(hostName: string, serviceId: string): Promise<string[]> {
  const list = await owner.trpc.containers.list.query({ hostId: hostIds.get(hostName)!, all: true });
  return list.filter((c) => c.Labels?.["com.docker.swarm.service.id"] === serviceId).map((c) => c.Id);
}

const byHost = (tasks: Task[]) => {
  const m: Record<string, number> = {};
  for (const x of tasks) m[x.host!.name] = (m[x.host!.name] ?? 0) + 1;
  return m;
};

test("6 replicas spread 2/2/2; a dead task is replaced in its slot; scale down; remove", { timeout: 240_000 }, async () => {
  const created = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "web",
      task: { image: "busybox", args: ["sleep", "3600"], restartPolicy: { delayMs: 500 } },
      mode: { kind: "replicated", replicas: 6 },
    },
  });
  const started = Date.now();
  const tasks = await untilRunning(created.id, 6);
  console.log(`# service create to 6 running: ${Date.now() - started} ms`);
  assert.deepEqual(byHost(tasks), { "lab-h1": 2, "lab-h2": 2, "lab-h3": 2 });
  assert.deepEqual(
    tasks.map((x) => x.slot).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6],
  );
  for (const h of ["lab-h1", "lab-h2", "lab-h3"])
    assert.equal((await containersOf(h, created.id)).length, 2, `${h} runs two task containers`);

  // Kill one task's container: the slot gets a new task (a new id), running again.
  const victim = tasks.find((x) => x.slot === 3)!;
  await owner.trpc.containers.kill.mutate({ hostId: victim.hostId!, id: victim.containerId!, signal: "SIGKILL" });
  const replaced = await waitFor(
    "slot 3 replaced",
    async () => (await runningTasks(created.id)).find((x) => x.slot === 3 && x.id !== victim.id) ?? null,
    30_000,
    200,
  );
  assert.notEqual(replaced.containerId, victim.containerId);
  const history = (await owner.trpc.services.tasks.query({ id: created.id })).filter((x) => x.slot === 3);
  assert.equal(history.find((x) => x.id === victim.id)?.state, "failed", "the dead task stays as the slot's history");
  assert.equal(history.find((x) => x.id === victim.id)?.exitCode, 137);
  // The service's charts count it: the point for now covers the last 10 s.
  const points = await owner.trpc.services.history.query({ id: created.id });
  const latest = points[points.length - 1]!;
  assert.equal(latest.desired, 6);
  assert.equal(latest.restarts, 1, `one restart in the last 10 s: ${JSON.stringify(latest)}`);

  // Two writers: the second, still holding version 1, is refused.
  const scaled = await owner.trpc.services.scale.mutate({ id: created.id, version: 1, replicas: 2 });
  assert.equal(scaled.version, 2);
  assert.equal((await trpcError(owner.trpc.services.scale.mutate({ id: created.id, version: 1, replicas: 4 }))).code, "CONFLICT");
  await untilRunning(created.id, 2);
  await waitFor(
    "scaled-down containers removed",
    async () => {
      let n = 0;
      for (const h of ["lab-h1", "lab-h2", "lab-h3"]) n += (await containersOf(h, created.id)).length;
      // Slot 3's failed task keeps its container as history until it is pruned or the service goes.
      return n <= 3;
    },
    30_000,
    250,
  );

  await owner.trpc.services.remove.mutate({ id: created.id });
  await waitFor(
    "every task container removed",
    async () => {
      for (const h of ["lab-h1", "lab-h2", "lab-h3"]) if ((await containersOf(h, created.id)).length) return false;
      return true;
    },
    30_000,
    250,
  );
});

test("constraints keep tasks on the labelled host; a global service runs one task per host", { timeout: 180_000 }, async () => {
  const zoned = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "zoned",
      task: { image: "busybox", args: ["sleep", "3600"], placement: { constraints: ["node.labels.zone==a"] } },
      mode: { kind: "replicated", replicas: 3 },
    },
  });
  assert.deepEqual(byHost(await untilRunning(zoned.id, 3)), { "lab-h1": 3 });

  // Nothing fits: the task waits, and says why.
  const nowhere = await owner.trpc.services.create.mutate({
    teamId,
    spec: { name: "nowhere", task: { image: "busybox", args: ["sleep", "3600"], placement: { constraints: ["node.labels.zone==c"] } } },
  });
  const pending = await waitFor(
    "pending with a reason",
    async () => (await owner.trpc.services.tasks.query({ id: nowhere.id })).find((x) => x.state === "pending") ?? null,
    30_000,
    200,
  );
  assert.equal(pending.message, "no suitable host (scheduling constraints not satisfied on 3 hosts)");

  const global = await owner.trpc.services.create.mutate({
    teamId,
    spec: { name: "agent", task: { image: "busybox", args: ["sleep", "3600"] }, mode: { kind: "global" } },
  });
  assert.deepEqual(byHost(await untilRunning(global.id, 3)), { "lab-h1": 1, "lab-h2": 1, "lab-h3": 1 });

  // Bad specs are refused with the field named.
  const bad = await trpcError(
    owner.trpc.services.create.mutate({
      teamId,
      spec: { name: "bad", task: { image: "busybox", placement: { constraints: ["node.colour==red"] } } },
    }),
  );
  assert.equal(bad.code, "BAD_REQUEST");
  assert.match(bad.message, /task\.placement\.constraints\.0: constraint "node\.colour==red": unknown key node\.colour/);

  for (const s of [zoned, nowhere, global]) await owner.trpc.services.remove.mutate({ id: s.id });
});

test("a start-first rolling update keeps every replica up; an update to a bad image rolls back", { timeout: 240_000 }, async () => {
  const task = { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500, env: ["V=1"] };
  const updateConfig = { parallelism: 2, order: "start-first", monitorMs: 1000, failureAction: "rollback" } as const;
  const created = await owner.trpc.services.create.mutate({
    teamId,
    spec: { name: "roll", task, mode: { kind: "replicated", replicas: 4 }, updateConfig },
  });
  await untilRunning(created.id, 4);

  // A probe counts the running task containers on the hosts themselves, all through the update.
  let lowest = Number.POSITIVE_INFINITY;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      let n = 0;
      for (const h of ["lab-h1", "lab-h2", "lab-h3"]) {
        const list = await owner.trpc.containers.list.query({ hostId: hostIds.get(h)!, all: false });
        n += list.filter((c) => c.Labels?.["com.docker.swarm.service.id"] === created.id && c.State === "running").length;
      }
      lowest = Math.min(lowest, n);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const v2 = await owner.trpc.services.update.mutate({
    id: created.id,
    version: 1,
    spec: { name: "roll", task: { ...task, env: ["V=2"] }, mode: { kind: "replicated", replicas: 4 }, updateConfig },
  });
  assert.equal(v2.updateState, "updating");
  // Paused at once: the batch under way may finish, no other starts until it is resumed.
  assert.equal((await owner.trpc.services.pause.mutate({ id: created.id })).updateState, "paused");
  await new Promise((r) => setTimeout(r, 3000));
  const whilePaused = (await owner.trpc.services.tasks.query({ id: created.id })).filter((x) => x.version === 2);
  assert.ok(whilePaused.length <= 2, `one batch (parallelism 2) at most while paused: ${whilePaused.length}`);
  assert.equal((await owner.trpc.services.get.query({ id: created.id })).updateState, "paused");
  assert.equal((await owner.trpc.services.resume.mutate({ id: created.id })).updateState, "updating");
  await waitFor(
    "update completed",
    async () => (await owner.trpc.services.get.query({ id: created.id })).updateState === "completed",
    120_000,
    250,
  );
  assert.ok(lowest >= 4, `running task containers never dropped below 4 (lowest ${lowest})`);
  const running = await untilRunning(created.id, 4);
  assert.ok(
    running.every((x) => x.version === 2),
    "every running task has the new spec",
  );

  // A bad image: the new tasks cannot start, the update rolls back, and the old spec runs again.
  await owner.trpc.services.update.mutate({
    id: created.id,
    version: 2,
    spec: {
      name: "roll",
      task: { ...task, image: "busybox:no-such-tag", env: ["V=2"] },
      mode: { kind: "replicated", replicas: 4 },
      updateConfig,
    },
  });
  const done = await waitFor(
    "rollback completed",
    async () => {
      const s = await owner.trpc.services.get.query({ id: created.id });
      return s.updateState === "rollback_completed" ? s : null;
    },
    120_000,
    250,
  );
  // start-first: the old tasks kept serving while the new ones could not start, and through the rollback.
  probing = false;
  await probe;
  assert.ok(lowest >= 4, `running task containers never dropped below 4 through the bad update (lowest ${lowest})`);
  assert.equal(done.spec.task.image, "busybox");
  assert.equal(done.version, 4, "the rollback is a new version with the previous spec");
  assert.ok((await untilRunning(created.id, 4)).every((x) => x.version !== 3));
  await owner.trpc.services.remove.mutate({ id: created.id });
});

test("a lost host's tasks run elsewhere within 10 s; back, its stale tasks are removed", { timeout: 180_000 }, async () => {
  const created = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "survivor",
      task: { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500 },
      mode: { kind: "replicated", replicas: 3 },
    },
  });
  const before = await untilRunning(created.id, 3);
  const lost = lab.hosts[2]!;
  const lostId = hostIds.get(lost.name)!;
  assert.equal(before.filter((x) => x.hostId === lostId).length, 1);
  const agentIndex = lab.hosts.indexOf(lost);

  // SIGKILL its agent and cut its link: its containers keep running, unseen.
  agents[agentIndex]!.proc.kill("SIGKILL");
  await lab.cut(lost);
  const cutAt = Date.now();
  const moved = await waitFor(
    "tasks running elsewhere",
    async () => {
      const running = await runningTasks(created.id);
      return running.length === 3 && running.every((x) => x.hostId !== lostId) ? running : null;
    },
    10_000,
    100,
  );
  const took = Date.now() - cutAt;
  console.log(`# host loss: tasks running elsewhere ${took} ms after the cut`);
  assert.ok(took <= 10_000);
  assert.deepEqual(Object.keys(byHost(moved)).sort(), ["lab-h1", "lab-h2"]);
  const orphaned = (await owner.trpc.services.tasks.query({ id: created.id })).find((x) => x.hostId === lostId)!;
  assert.equal(orphaned.state, "orphaned");
  assert.match(orphaned.message, /host lab-h3 was lost/);

  // Back: the link returns and the agent restarts (its join is a no-op now); the stale task goes.
  await lab.restore(lost);
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
  agents[agentIndex] = spawnAgent({
    url: t.url,
    token,
    stateDir: join(tmp, lost.name),
    name: lost.name,
    netns: lost.netns,
    registryMirror: mirror.url,
  });
  await waitFor("host back online", async () => t.cp.gateway.isConnected(lostId), 30_000, 200);
  const backAt = Date.now();
  await waitFor("stale task container removed", async () => (await containersOf(lost.name, created.id)).length === 0, 10_000, 200);
  console.log(`# host back: stale task removed ${Date.now() - backAt} ms after it relinked`);
  assert.equal((await runningTasks(created.id)).length, 3);
  await owner.trpc.services.remove.mutate({ id: created.id });
});

test("drain moves a host's tasks off it, starting their replacements first", { timeout: 180_000 }, async () => {
  const created = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "drained",
      task: { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500 },
      mode: { kind: "replicated", replicas: 6 },
      updateConfig: { order: "start-first" },
    },
  });
  await untilRunning(created.id, 6);
  const h1 = hostIds.get("lab-h1")!;
  let lowest = Number.POSITIVE_INFINITY;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      lowest = Math.min(lowest, (await runningTasks(created.id)).length);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await owner.trpc.services.setAvailability.mutate({ hostId: h1, availability: "drain" });
  const moved = await waitFor(
    "tasks off the drained host",
    async () => {
      const running = await runningTasks(created.id);
      return running.length === 6 && running.every((x) => x.hostId !== h1) && (await containersOf("lab-h1", created.id)).length === 0
        ? running
        : null;
    },
    60_000,
    200,
  );
  probing = false;
  await probe;
  assert.deepEqual(byHost(moved), { "lab-h2": 3, "lab-h3": 3 });
  assert.ok(lowest >= 6, `start-first: running tasks never dropped below 6 (lowest ${lowest})`);
  await owner.trpc.services.setAvailability.mutate({ hostId: h1, availability: "active" });
  await owner.trpc.services.remove.mutate({ id: created.id });
});
