// Figures: 500 idle containers (agent RSS, memory per container with its conmon), one-shot stats
// over all of them (p50/p99 per call), and the agent's CPU while it streams all their stats at 1 Hz.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { bundleAgentEntry } from "../scripts/build.ts";
import { repoRoot } from "../scripts/paths.ts";
import { cpuSeconds, rssBytes } from "./proc.ts";
import { median, percentile } from "./stats.ts";

export interface IdleBenchResult {
  containers: number;
  agentRssIdleMiB: number;
  agentRssMiB: number;
  /** Proportional set size per container: its conmon plus its processes, medians. */
  conmonPssKiB: number;
  containerPssKiB: number;
  /** The agent's growth shared out, plus conmon and the container's processes. */
  perContainerKiB: number;
  statsP50Ms: number;
  statsP99Ms: number;
  streamCpuPercent: number;
  streamSamplesPerSecond: number;
  createSeconds: number;
}

/** PSS in KiB: shared pages (busybox, conmon's libraries) are split among the processes sharing them. */
function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function ask<T>(child: ChildProcess, msg: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once("message", (m: T & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    child.send(msg as object);
  });
}

export async function idleContainersBench(opts: { containers: number; streamSeconds: number }): Promise<IdleBenchResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-idle-"));
  const cgroupParent = `/berth-bench-idle-${process.pid}`;
  // The agent's code bundled as it ships, so its RSS is the agent's, not a TypeScript loader's.
  const bundle = join(work, "idle-agent.cjs");
  await bundleAgentEntry(join(repoRoot, "bench/support/idle-agent.ts"), bundle);
  await new Promise<void>((resolve, reject) => {
    const prep = fork(bundle, ["prepare", join(work, "agent"), cgroupParent], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    prep.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`preparing the bench agent's state failed (${code})`))));
  });
  const child = fork(bundle, ["serve", join(work, "agent"), cgroupParent], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`the bench agent exited (${code})`)));
    });
    // The baseline is the agent at rest after its start-up.
    await new Promise((r) => setTimeout(r, 2000));
    const agentRssIdle = rssBytes(child.pid!);
    const t0 = performance.now();
    await ask(child, { op: "create", count: opts.containers, concurrency: 4 });
    const createSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 3000));
    const agentRss = rssBytes(child.pid!);
    const pids = await ask<Array<{ conmon: number; init: number }>>(child, { op: "pids" });
    const conmon = pids.map((p) => pssKiB(p.conmon)).filter(Number.isFinite);
    const init = pids.map((p) => pssKiB(p.init)).filter(Number.isFinite);

    const { latencies } = await ask<{ latencies: number[] }>(child, { op: "stats-once" });
    const cpu0 = cpuSeconds(child.pid!);
    const s0 = performance.now();
    const { samples } = await ask<{ samples: number }>(child, { op: "stream", seconds: opts.streamSeconds });
    const wall = (performance.now() - s0) / 1000;
    const cpu = cpuSeconds(child.pid!) - cpu0;
    const growthKiB = (agentRss - agentRssIdle) / 1024 / opts.containers;
    return {
      containers: opts.containers,
      agentRssIdleMiB: agentRssIdle / 2 ** 20,
      agentRssMiB: agentRss / 2 ** 20,
      conmonPssKiB: median(conmon),
      containerPssKiB: median(init),
      perContainerKiB: median(conmon) + median(init) + Math.max(0, growthKiB),
      statsP50Ms: median(latencies),
      statsP99Ms: percentile(latencies, 99),
      streamCpuPercent: (cpu / wall) * 100,
      streamSamplesPerSecond: samples / wall,
      createSeconds,
    };
  } finally {
    await ask(child, { op: "cleanup" }).catch(() => undefined);
    child.kill("SIGKILL");
    removeCgroupParent(cgroupParent);
    rmSync(work, { recursive: true, force: true });
  }
}
