// Figure: one control plane holding N simulated agents (WebSocket clients in this process) with
// 1 s heartbeats (what the control plane asks of agents). Reports the control plane's CPU and RSS and hosts.list latency under that load.
import { startControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import { connectSimAgent, joinWithToken, type SimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";
import { HEARTBEAT_INTERVAL_MS, type JoinResponse } from "@berth/protocol";
import { cpuSeconds, rssBytes } from "./proc.ts";
import { median, percentile } from "./stats.ts";

export interface ScaleResult {
  agents: number;
  rounds: number;
  cpuCores: number; // median over rounds
  rssMiB: number; // median over rounds
  listP50Ms: number; // median over rounds of each round's p50
  listP99Ms: number; // median over rounds of each round's p99
  listSamples: number;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

export async function controlPlaneScale(opts: {
  agents: number;
  rounds: number;
  roundSeconds: number;
  heartbeatMs?: number;
}): Promise<ScaleResult> {
  const cp = await startControlPlaneProcess();
  const { url, proc: server } = cp;
  const agents: SimAgent[] = [];
  try {
    const owner = await signUp(url, "bench@example.com", "bench-password", inviteOf(cp.setupLink));
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: opts.agents, expiresInSeconds: 3600 });

    const creds: JoinResponse[] = [];
    await pool(
      Array.from({ length: opts.agents }, (_, i) => i),
      16,
      async (i) => {
        const r = await joinWithToken(url, token, `sim-${i}`);
        if (r.status !== 200) throw new Error(`join failed: ${JSON.stringify(r.body)}`);
        creds.push(r.body as JoinResponse);
      },
    );
    await pool(creds, 32, async (c) => {
      const a = connectSimAgent(url, c.credential, c.name);
      if ((await a.opened) !== "open") throw new Error("link refused");
      a.hello();
      await a.welcomed;
      // Spread heartbeats over the interval, as independently started agents would be.
      setTimeout(
        () => a.startHeartbeats(opts.heartbeatMs ?? HEARTBEAT_INTERVAL_MS),
        Math.random() * (opts.heartbeatMs ?? HEARTBEAT_INTERVAL_MS),
      ).unref();
      agents.push(a);
    });
    await waitFor(
      "all agents online",
      async () => {
        const h = await owner.trpc.hosts.list.query();
        return h.filter((x) => x.status === "online").length === opts.agents;
      },
      60_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 6_000)); // several heartbeat intervals of steady state

    const cpu: number[] = [];
    const rss: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    let samples = 0;
    for (let round = 0; round < opts.rounds; round++) {
      const c0 = cpuSeconds(server.pid!);
      const t0 = performance.now();
      const lat: number[] = [];
      const end = t0 + opts.roundSeconds * 1000;
      // A dashboard-like reader: one hosts.list at a time, paced at ~5 per second.
      while (performance.now() < end) {
        const s = performance.now();
        const hosts = await owner.trpc.hosts.list.query();
        lat.push(performance.now() - s);
        if (hosts.length !== opts.agents) throw new Error(`hosts.list returned ${hosts.length}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const elapsed = (performance.now() - t0) / 1000;
      cpu.push((cpuSeconds(server.pid!) - c0) / elapsed);
      rss.push(rssBytes(server.pid!) / 2 ** 20);
      p50.push(percentile(lat, 50));
      p99.push(percentile(lat, 99));
      samples += lat.length;
    }
    const offline = (await owner.trpc.hosts.list.query()).filter((h) => h.status !== "online").length;
    if (offline > 0) throw new Error(`${offline} simulated hosts went offline during the run`);
    return {
      agents: opts.agents,
      rounds: opts.rounds,
      cpuCores: median(cpu),
      rssMiB: median(rss),
      listP50Ms: median(p50),
      listP99Ms: median(p99),
      listSamples: samples,
    };
  } finally {
    for (const a of agents) a.close();
    await cp.stop();
  }
}
