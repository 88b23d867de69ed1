import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { STATS_CONTAINERS_PER_FRAME, type StatsReport } from "@berth/protocol";
import type { ContainerStats } from "./cgroup-stats.ts";

/** Host CPU as busy and total jiffies since boot (rates come from consecutive reports). */
function hostCpu(): { cpuBusy: number; cpuTotal: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { cpuBusy: total - idle, cpuTotal: total };
}

/** Memory in use as `free` counts it: total minus available. */
function hostMemory(): { memUsed: number; memTotal: number } {
  const info = readFileSync("/proc/meminfo", "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? 0) * 1024;
  const total = kib("MemTotal");
  return { memUsed: total - kib("MemAvailable"), memTotal: total };
}

/** The counters the control plane stores for one container, from a Docker-shaped sample. */
export function containerCounters(id: string, s: ContainerStats): StatsReport["containers"][number] {
  const nets = Object.values(s.networks ?? {});
  const io = s.blkio_stats.io_service_bytes_recursive ?? [];
  const op = (name: string) => io.filter((e) => e.op.toLowerCase() === name).reduce((a, e) => a + e.value, 0);
  const inactive = s.memory_stats.stats?.inactive_file ?? s.memory_stats.stats?.total_inactive_file ?? 0;
  return [
    id,
    s.cpu_stats.cpu_usage.total_usage,
    Math.max((s.memory_stats.usage ?? 0) - inactive, 0),
    s.memory_stats.limit ?? 0,
    nets.reduce((a, n) => a + n.rx_bytes, 0),
    nets.reduce((a, n) => a + n.tx_bytes, 0),
    op("read"),
    op("write"),
  ];
}

/** One report, split into frames of at most STATS_CONTAINERS_PER_FRAME containers (at least one frame). */
export function statsReports(containers: StatsReport["containers"]): StatsReport[] {
  const at = Date.now();
  const host = { ...hostCpu(), cpus: cpus().length || 1, ...hostMemory() };
  const frames: StatsReport[] = [];
  for (let i = 0; i === 0 || i < containers.length; i += STATS_CONTAINERS_PER_FRAME) {
    frames.push({ type: "stats", at, host, containers: containers.slice(i, i + STATS_CONTAINERS_PER_FRAME) });
  }
  return frames;
}
