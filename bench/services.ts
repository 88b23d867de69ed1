// Services on simulated hosts, the control plane in a process of its own:
// - placement: one service of 3,000 replicas on 1,000 hosts; the time until every task is
//   assigned, and each task's placement latency (the service's row written → the task's row
//   written with its host, both on Postgres's clock), beside the create call's own time;
// - heal: a service of 1,000 replicas on 100 hosts (10 each); 10 hosts' links are cut; the time
//   from the control plane marking them offline until all 100 of their tasks are reassigned
//   (the hosts' agents die: their links drop and they beat no more).
// The simulated agents run what they are told (sim-agent.ts taskResponder) and beat every second.
import { startControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createDb } from "@berth/db";
import { HEARTBEAT_INTERVAL_MS, type JoinResponse } from "@berth/protocol";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent, taskResponder, type SimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";
import { cpuSeconds } from "./proc.ts";
import { percentile } from "./stats.ts";

export interface ServicesBenchResult {
  placementHosts: number;
  placementReplicas: number;
  /** The create call itself (API, auth, validation, the service's rows). */
  createCallMs: number;
  allAssignedMs: number;
  placementP50Ms: number;
  placementP99Ms: number;
  /** Until every task's row was committed (seen by a reader), for the first service and the next. */
  allVisibleMs: number;
  nextAllVisibleMs: number;
  /** The same for a second service of as many replicas, placed beside the first. */
  nextPlacementP50Ms: number;
  nextPlacementP99Ms: number;
  allRunningMs: number;
  healHosts: number;
  healCut: number;
  healTasks: number;
  healMs: number;
}

/** Waits until the process uses under a third of a core over a second (at most a minute). */
export async function settled(pid: number): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const before = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuSeconds(pid) - before < 0.33 || Date.now() > until) return;
  }
}

export async function simFleet(url: string, token: string, prefix: string, n: number, agents: SimAgent[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${String(i).padStart(4, "0")}`;
    const j = (await joinWithToken(url, token, name)).body as JoinResponse;
    const a = await linkedSimAgent(url, j.credential, name);
    a.respond = taskResponder();
    // Spread over the interval, as independently started agents would be.
    setTimeout(() => a.startHeartbeats(HEARTBEAT_INTERVAL_MS), Math.random() * HEARTBEAT_INTERVAL_MS).unref();
    agents.push(a);
  }
}

export async function servicesBench(opts: {
  hosts: number;
  replicas: number;
  healHosts: number;
  healCut: number;
}): Promise<ServicesBenchResult> {
  const cp = await startControlPlaneProcess();
  const db = createDb(cp.databaseUrl, { poolSize: 4 });
  const agents: SimAgent[] = [];
  try {
    const owner = await signUp(cp.url, "bench-services@example.com", "bench-password", inviteOf(cp.setupLink));
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: opts.hosts + opts.healHosts, expiresInSeconds: 3600 });

    // Placement.
    await simFleet(cp.url, token, "place", opts.hosts, agents);
    await waitFor("hosts online", async () => (await db.host.count({ where: { status: "online" } })) === opts.hosts, 120_000, 250);
    // A fleet in service, not one linking: the control plane has synced every new link first.
    await settled(cp.proc.pid!);
    /** Creates a service of `replicas` and gives each task's placement latency once all are assigned. */
    const placeOne = async (name: string) => {
      const sent = Date.now();
      const svc = await owner.trpc.services.create.mutate({
        teamId,
        spec: { name, task: { image: "busybox", args: ["sleep", "3600"] }, mode: { kind: "replicated", replicas: opts.replicas } },
      });
      const callMs = Date.now() - sent;
      const visible = await waitFor(
        `${name} assigned`,
        async () =>
          (await db.task.count({ where: { serviceId: svc.id, hostId: { not: null }, state: { not: "pending" } } })) === opts.replicas
            ? Date.now()
            : null,
        120_000,
        5,
      );
      // Both times are Postgres's clock: the service's row written, each task's row written with its host.
      const acceptedAt = (await db.service.findUniqueOrThrow({ where: { id: svc.id } })).createdAt.getTime();
      const tasks = await db.task.findMany({ where: { serviceId: svc.id }, select: { createdAt: true } });
      // A task's row is written at its statement's start but seen by others at its commit: the
      // time until the poll (every 5 ms) saw them all, on this machine's clock (the same as Postgres's).
      return { svc, sent, callMs, latencies: tasks.map((t) => t.createdAt.getTime() - acceptedAt), visibleMs: visible - acceptedAt };
    };
    // The first service after the process started pays for compiling the scheduler's code; the
    // second is the control plane in service.
    const first = await placeOne("placed");
    const { svc, sent } = first;
    const createCallMs = first.callMs;
    const latencies = first.latencies;
    const allAssignedMs = Math.max(...latencies);
    await waitFor(
      "all running",
      async () => (await db.task.count({ where: { serviceId: svc.id, state: "running" } })) === opts.replicas,
      300_000,
      100,
    );
    const allRunningMs = Date.now() - sent;
    await settled(cp.proc.pid!);
    const second = await placeOne("placed-next");
    await owner.trpc.services.remove.mutate({ id: second.svc.id });
    await owner.trpc.services.remove.mutate({ id: svc.id });
    for (const a of agents.splice(0)) a.close();
    await db.host.deleteMany({ where: { name: { startsWith: "place-" } } });

    // Heal.
    await simFleet(cp.url, token, "heal", opts.healHosts, agents);
    await waitFor("heal hosts online", async () => (await db.host.count({ where: { status: "online" } })) === opts.healHosts, 120_000, 250);
    const replicas = opts.healHosts * 10;
    const heal = await owner.trpc.services.create.mutate({
      teamId,
      spec: { name: "healed", task: { image: "busybox", args: ["sleep", "3600"] }, mode: { kind: "replicated", replicas } },
    });
    await waitFor(
      "heal service running",
      async () => (await db.task.count({ where: { serviceId: heal.id, state: "running" } })) === replicas,
      300_000,
      100,
    );
    const cut = agents.slice(0, opts.healCut);
    const cutIds = (await db.host.findMany({ where: { name: { in: cut.map((_, i) => `heal-${String(i).padStart(4, "0")}`) } } })).map(
      (h) => h.id,
    );
    const lostTasks = await db.task.count({ where: { serviceId: heal.id, hostId: { in: cutIds }, desiredState: "running" } });
    // The agents die: their links drop without a close handshake, and they beat no more.
    for (const a of cut) a.ws.terminate();
    const offlineAt = await waitFor(
      "cut hosts offline",
      async () => ((await db.host.count({ where: { id: { in: cutIds }, status: "offline" } })) === cutIds.length ? Date.now() : null),
      60_000,
      10,
    );
    await waitFor(
      "tasks reassigned",
      async () => (await db.task.count({ where: { serviceId: heal.id, desiredState: "running", hostId: { notIn: cutIds } } })) === replicas,
      60_000,
      10,
    );
    const healMs = Date.now() - offlineAt;
    return {
      placementHosts: opts.hosts,
      placementReplicas: opts.replicas,
      createCallMs,
      allAssignedMs,
      placementP50Ms: percentile(latencies, 50),
      placementP99Ms: percentile(latencies, 99),
      allVisibleMs: first.visibleMs,
      nextAllVisibleMs: second.visibleMs,
      nextPlacementP50Ms: percentile(second.latencies, 50),
      nextPlacementP99Ms: percentile(second.latencies, 99),
      allRunningMs,
      healHosts: opts.healHosts,
      healCut: opts.healCut,
      healTasks: lostTasks,
      healMs,
    };
  } finally {
    for (const a of agents) a.ws.terminate();
    await db.$disconnect();
    await cp.stop();
  }
}
