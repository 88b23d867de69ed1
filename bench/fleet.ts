// Figures for the fleet control plane, in a control-plane process of its own:
// - fleet.list with 10,000 containers on 300 hosts (inventory seeded in Postgres): p50/p99 of
//   dashboard-like calls (pages, sorts, filters), one at a time;
// - `docker ps -a` and `docker service ps` (a 3,000-task service placed over those hosts) through
//   the fleet Docker endpoint: p50/p99 of the server's answer;
// - stats ingest: simulated agents report N containers at 1 Hz; the control plane's CPU over
//   the window, and the 10 s rows it wrote. No peer runs a comparable control plane here.
import { startControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createDb } from "@berth/db";
import type { JoinResponse, StatsReport } from "@berth/protocol";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent, type SimAgent } from "@berth/test-support/sim-agent";
import { Agent, request } from "undici";
import { cpuSeconds } from "./proc.ts";
import { percentile, timeCalls } from "./stats.ts";

export interface FleetBenchResult {
  hosts: number;
  containers: number;
  listCalls: number;
  listP50Ms: number;
  listP99Ms: number;
  /** `docker ps -a` through the fleet Docker endpoint: GET /containers/json?all=1, every container. */
  dockerPsCalls: number;
  dockerPsP50Ms: number;
  dockerPsP99Ms: number;
  /** `docker service ps` of a service with this many tasks: GET /tasks filtered by the service. */
  serviceTasks: number;
  servicePsCalls: number;
  servicePsP50Ms: number;
  servicePsP99Ms: number;
  statsContainers: number;
  statsAgents: number;
  statsSeconds: number;
  statsCpuPercent: number;
  statsRows: number;
}

export async function fleetBench(opts: {
  hosts: number;
  containers: number;
  listCalls: number;
  dockerPsCalls: number;
  serviceTasks: number;
  servicePsCalls: number;
  statsContainers: number;
  statsAgents: number;
  statsSeconds: number;
}): Promise<FleetBenchResult> {
  const cp = await startControlPlaneProcess();
  const { url, proc: server } = cp;
  const db = createDb(cp.databaseUrl, { poolSize: 4 });
  const agents: SimAgent[] = [];
  try {
    const owner = await signUp(url, "bench-fleet@example.com", "bench-password", inviteOf(cp.setupLink));
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;

    // Seeded inventory: hosts and their containers as agents would have reported them.
    await db.host.createMany({
      data: Array.from({ length: opts.hosts }, (_, i) => ({
        id: `benchhost${String(i).padStart(4, "0")}`,
        teamId,
        name: `node-${String(i).padStart(3, "0")}`,
        status: "online" as const,
      })),
    });
    const states = ["running", "running", "running", "exited", "created"];
    const images = ["nginx:1.27", "redis:7", "postgres:16", "busybox", "node:20"];
    const rows = Array.from({ length: opts.containers }, (_, i) => ({
      hostId: `benchhost${String(i % opts.hosts).padStart(4, "0")}`,
      kind: "container",
      itemId: i.toString(16).padStart(64, "0"),
      name: `svc-${i % 97}-${i}`,
      image: images[i % images.length]!,
      state: states[i % states.length]!,
      created: new Date(Date.now() - i * 60_000),
    }));
    for (let i = 0; i < rows.length; i += 5000) await db.inventoryItem.createMany({ data: rows.slice(i, i + 5000) });
    await db.$executeRawUnsafe("analyze inventory_item");

    // Dashboard-like calls: pages deep and shallow, each sort, text and state filters.
    const calls = [
      { sort: "name" as const, dir: "asc" as const, offset: 0 },
      { sort: "created" as const, dir: "desc" as const, offset: 0 },
      { sort: "host" as const, dir: "asc" as const, offset: 5000 },
      { sort: "state" as const, dir: "asc" as const, offset: 9900 },
      { sort: "name" as const, dir: "asc" as const, offset: 0, q: "svc-42-" },
      { sort: "name" as const, dir: "desc" as const, offset: 100, state: "running" },
      { sort: "created" as const, dir: "asc" as const, offset: 0, q: "redis" },
    ];
    for (let i = 0; i < 10; i++) await owner.trpc.fleet.list.query({ kind: "container", ...calls[i % calls.length]! }); // warm-up
    const lat = await timeCalls(opts.listCalls, async (i) => {
      const r = await owner.trpc.fleet.list.query({ kind: "container", limit: 50, ...calls[i % calls.length]! });
      if (i === 0 && r.total !== opts.containers) throw new Error(`fleet.list counted ${r.total} containers`);
    });

    // docker ps -a on the fleet endpoint (its unix socket, an API token): every container, each call.
    const { token: apiToken } = await owner.trpc.apiTokens.create.mutate({ name: "bench", role: "viewer", teamId });
    const socket = new Agent({ connect: { socketPath: cp.dockerSocket } });
    const dockerPs = async () => {
      const res = await request("http://fleet/v1.47/containers/json?all=1", {
        dispatcher: socket,
        headers: { authorization: `Bearer ${apiToken}` },
      });
      const list = (await res.body.json()) as unknown[];
      if (res.statusCode !== 200 || list.length !== opts.containers)
        throw new Error(`docker ps -a: ${res.statusCode}, ${list.length} containers`);
    };
    await dockerPs(); // warm-up
    const psLat = await timeCalls(opts.dockerPsCalls, dockerPs);

    // docker service ps: a service of serviceTasks replicas, placed by the scheduler over the seeded
    // hosts (unlinked, so its tasks stay assigned), listed as the CLI asks for it.
    const svc = await owner.trpc.services.create.mutate({
      teamId,
      spec: { name: "bench-wide", task: { image: "busybox" }, mode: { kind: "replicated", replicas: opts.serviceTasks } },
    });
    const deadline = Date.now() + 120_000;
    while ((await db.task.count({ where: { serviceId: svc.id } })) < opts.serviceTasks) {
      if (Date.now() > deadline) throw new Error("the bench service's tasks were not all placed within 2 minutes");
      await new Promise((r) => setTimeout(r, 250));
    }
    const filters = encodeURIComponent(JSON.stringify({ service: { "bench-wide": true } }));
    const servicePs = async () => {
      const res = await request(`http://fleet/v1.47/tasks?filters=${filters}`, {
        dispatcher: socket,
        headers: { authorization: `Bearer ${apiToken}` },
      });
      const list = (await res.body.json()) as unknown[];
      if (res.statusCode !== 200 || list.length !== opts.serviceTasks)
        throw new Error(`docker service ps: ${res.statusCode}, ${list.length} tasks`);
    };
    await servicePs(); // warm-up
    const spLat = await timeCalls(opts.servicePsCalls, servicePs);
    await owner.trpc.services.remove.mutate({ id: svc.id });
    await socket.close();

    // Stats ingest: simulated agents, each reporting its share of the containers every second.
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: opts.statsAgents, expiresInSeconds: 3600 });
    const perAgent = Math.ceil(opts.statsContainers / opts.statsAgents);
    for (let a = 0; a < opts.statsAgents; a++) {
      const j = (await joinWithToken(url, token, `statsim-${a}`)).body as JoinResponse;
      agents.push(await linkedSimAgent(url, j.credential, `statsim-${a}`));
    }
    const ids = agents.map((_, a) =>
      Array.from({ length: perAgent }, (_, i) => `${a.toString(16).padStart(8, "0")}${i.toString(16).padStart(56, "0")}`),
    );
    // As real agents do, each reports its containers first: the control plane takes stats only for those.
    agents.forEach((ag, a) => {
      ag.sendRaw(
        JSON.stringify({
          type: "inventory",
          kind: "container",
          part: 0,
          last: true,
          items: ids[a]!.map((id, i) => ({ id, name: `c-${a}-${i}`, created: 1 })),
        }),
      );
    });
    let tick = 0;
    const report = (a: number): StatsReport => ({
      type: "stats",
      at: Date.now(),
      host: {
        cpuBusy: tick * 50,
        cpuTotal: tick * 200,
        cpus: 2,
        memUsed: 4e9,
        memTotal: 8e9,
        netRx: tick * 1e5,
        netTx: tick * 5e4,
        diskRead: tick * 1e6,
        diskWrite: tick * 2e6,
      },
      containers: ids[a]!.map((id, i) => [id, tick * 1e7 * ((i % 10) + 1), 5e7 + i, 0, tick * 1000, tick * 500, tick * 4096, tick * 2048]),
    });
    const send = () => {
      tick++;
      agents.forEach((ag, a) => {
        ag.sendRaw(JSON.stringify(report(a)));
      });
    };
    // warm-up
    for (let i = 0; i < 3; i++) {
      send();
      await new Promise((r) => setTimeout(r, 1000));
    }
    const rows0 = await db.statSample.count();
    const c0 = cpuSeconds(server.pid!);
    const t0 = performance.now();
    for (let s = 0; s < opts.statsSeconds; s++) {
      const next = t0 + (s + 1) * 1000;
      send();
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = (cpuSeconds(server.pid!) - c0) / elapsed;
    const written = (await db.statSample.count()) - rows0;
    return {
      hosts: opts.hosts,
      containers: opts.containers,
      listCalls: lat.length,
      listP50Ms: percentile(lat, 50),
      listP99Ms: percentile(lat, 99),
      dockerPsCalls: psLat.length,
      dockerPsP50Ms: percentile(psLat, 50),
      dockerPsP99Ms: percentile(psLat, 99),
      serviceTasks: opts.serviceTasks,
      servicePsCalls: spLat.length,
      servicePsP50Ms: percentile(spLat, 50),
      servicePsP99Ms: percentile(spLat, 99),
      statsContainers: perAgent * opts.statsAgents,
      statsAgents: opts.statsAgents,
      statsSeconds: opts.statsSeconds,
      statsCpuPercent: cpu * 100,
      statsRows: written,
    };
  } finally {
    for (const a of agents) a.close();
    await db.$disconnect();
    await cp.stop();
  }
}
