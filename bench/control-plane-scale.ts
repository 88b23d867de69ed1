// Figure: two control-plane processes on one Postgres holding N simulated agents between them
// (WebSocket clients in this process, half linked to each, 1 s heartbeats, as agents are asked).
// Reports each process's CPU and RSS at rest, hosts.list latency through either, and, after one
// process is SIGKILLed, the time until every agent is linked to the other again: the simulated
// agents re-link as the real one does (the next address, after a full-jitter wait over 1.5 s).
import pg from "pg";
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { inviteOf, signUp, trpcClient } from "@berth/test-support/control-plane";
import { createTestDatabase } from "@berth/test-support/db";
import { connectSimAgent, joinWithToken, type SimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";
import { HEARTBEAT_INTERVAL_MS, type JoinResponse } from "@berth/protocol";
import { cpuSeconds, rssBytes } from "./proc.ts";
import { median, percentile } from "./stats.ts";

export interface ScaleResult {
  agents: number;
  processes: number;
  rounds: number;
  /** Per process, medians over rounds. */
  cpuCores: number[];
  rssMiB: number[];
  listP50Ms: number; // median over rounds of each round's p50
  listP99Ms: number; // median over rounds of each round's p99
  listSamples: number;
  /** From the SIGKILL of the process holding half the agents until all are linked to the other. */
  relinkMs: number;
  relinked: number;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** A simulated agent that, like the real one, tries its next address after a lost link. */
class RelinkingSim {
  current: SimAgent | null = null;
  private at = 0;
  private stopped = false;

  constructor(
    private readonly urls: string[],
    private readonly credential: string,
    private readonly name: string,
    private readonly heartbeatMs: number,
  ) {}

  async link(first = false): Promise<void> {
    const url = this.urls[this.at % this.urls.length]!;
    const a = connectSimAgent(url, this.credential, this.name);
    this.current = a;
    const opened = await a.opened;
    if (opened === "open") {
      a.hello();
      await a.welcomed;
      // Heartbeats spread over the interval, as independently started agents' are.
      setTimeout(() => a.startHeartbeats(this.heartbeatMs), first ? Math.random() * this.heartbeatMs : 0).unref();
    }
    void a.closed.then(() => {
      if (this.stopped || this.current !== a) return;
      this.at++;
      setTimeout(() => void this.link().catch(() => undefined), Math.max(50, Math.random() * 1_500)).unref();
    });
    if (opened !== "open") a.ws.terminate();
  }

  stop(): void {
    this.stopped = true;
    this.current?.close();
  }
}

export async function controlPlaneScale(opts: {
  agents: number;
  rounds: number;
  roundSeconds: number;
  heartbeatMs?: number;
}): Promise<ScaleResult> {
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_INTERVAL_MS;
  const database = await createTestDatabase();
  const processes: ControlPlaneProcess[] = [];
  const agents: RelinkingSim[] = [];
  try {
    processes.push(await startControlPlaneProcess({ database }));
    processes.push(await startControlPlaneProcess({ database }));
    const [a, b] = processes as [ControlPlaneProcess, ControlPlaneProcess];
    const owner = await signUp(a.url, "bench@example.com", "bench-password", inviteOf(b.setupLink));
    const clients = processes.map((p) => trpcClient(p.url, owner.cookie));
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: opts.agents, expiresInSeconds: 3600 });

    const creds: JoinResponse[] = [];
    await pool(
      Array.from({ length: opts.agents }, (_, i) => i),
      16,
      async (i) => {
        const r = await joinWithToken(a.url, token, `sim-${i}`);
        if (r.status !== 200) throw new Error(`join failed: ${JSON.stringify(r.body)}`);
        creds.push(r.body as JoinResponse);
      },
    );
    await pool(
      creds.map((c, i) => ({ c, i })),
      32,
      async ({ c, i }) => {
        // Half list A first, half B first.
        const sim = new RelinkingSim(i % 2 === 0 ? [a.url, b.url] : [b.url, a.url], c.credential, c.name, heartbeatMs);
        agents.push(sim);
        await sim.link(true);
      },
    );
    await waitFor(
      "all agents online",
      async () => (await clients[0]!.hosts.list.query()).filter((x) => x.status === "online" && x.connected).length === opts.agents,
      120_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 6_000)); // several heartbeat intervals of steady state

    const cpu: number[][] = processes.map(() => []);
    const rss: number[][] = processes.map(() => []);
    const p50: number[] = [];
    const p99: number[] = [];
    let samples = 0;
    for (let round = 0; round < opts.rounds; round++) {
      const c0 = processes.map((p) => cpuSeconds(p.proc.pid!));
      const t0 = performance.now();
      const lat: number[] = [];
      const end = t0 + opts.roundSeconds * 1000;
      // A dashboard-like reader: one hosts.list at a time, paced at ~5 per second, through either process.
      for (let n = 0; performance.now() < end; n++) {
        const s = performance.now();
        const hosts = await clients[n % clients.length]!.hosts.list.query();
        lat.push(performance.now() - s);
        if (hosts.length !== opts.agents) throw new Error(`hosts.list returned ${hosts.length}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const elapsed = (performance.now() - t0) / 1000;
      processes.forEach((p, i) => {
        cpu[i]!.push((cpuSeconds(p.proc.pid!) - c0[i]!) / elapsed);
        rss[i]!.push(rssBytes(p.proc.pid!) / 2 ** 20);
      });
      p50.push(percentile(lat, 50));
      p99.push(percentile(lat, 99));
      samples += lat.length;
    }
    const offline = (await owner.trpc.hosts.list.query()).filter((h) => h.status !== "online").length;
    if (offline > 0) throw new Error(`${offline} simulated hosts went offline during the run`);

    // One process dies: its agents find the other.
    const statsBefore = process.env.BENCH_DEBUG ? await tableStats(database.url) : null;
    const killedAt = performance.now();
    await b.kill();
    await waitFor(
      "every agent linked to the surviving process",
      async () => {
        const health = (await (await fetch(`${a.url}/healthz`)).json()) as { agents: number };
        if (process.env.BENCH_DEBUG) console.log(`${Math.round(performance.now() - killedAt)} ms: ${health.agents} linked to A`);
        return health.agents === opts.agents;
      },
      120_000,
      50,
    );
    const relinkMs = performance.now() - killedAt;
    if (statsBefore) {
      await new Promise((r) => setTimeout(r, 1_000)); // the statistics collector's delay
      const after = await tableStats(database.url);
      for (const [k, v] of after) {
        const d = v.map((x, i) => x - (statsBefore.get(k)?.[i] ?? 0));
        if (d.some((x) => x > 0)) console.log(`${k.padEnd(28)} ${d.join("  ")}`);
      }
    }
    return {
      agents: opts.agents,
      processes: processes.length,
      rounds: opts.rounds,
      cpuCores: cpu.map(median),
      rssMiB: rss.map(median),
      listP50Ms: median(p50),
      listP99Ms: median(p99),
      listSamples: samples,
      relinkMs,
      relinked: Math.ceil(opts.agents / 2),
    };
  } finally {
    for (const s of agents) s.stop();
    for (const p of processes) await p.stop().catch(() => undefined);
    await database.drop();
  }
}

/** Debugging the re-link: Postgres's counters (transactions; per table seq scans, index scans, inserts, updates, deletes). */
async function tableStats(url: string): Promise<Map<string, number[]>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const m = new Map<string, number[]>();
    const x = await c.query<{ n: string }>(
      "select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()",
    );
    m.set("(transactions)", [Number(x.rows[0]!.n)]);
    const r = await c.query<{ relname: string; a: string; b: string; c: string; d: string; e: string }>(
      "select relname, seq_scan as a, coalesce(idx_scan, 0) as b, n_tup_ins as c, n_tup_upd as d, n_tup_del as e from pg_stat_user_tables",
    );
    for (const row of r.rows) m.set(row.relname, [row.a, row.b, row.c, row.d, row.e].map(Number));
    return m;
  } finally {
    await c.end();
  }
}
