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

/** Bytes received and sent by the host's own interfaces: not loopback, and not the veths and bridges of containers. */
function hostNetwork(): { netRx: number; netTx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of readFileSync("/proc/net/dev", "utf8").split("\n").slice(2)) {
    const [name, rest] = line.split(":");
    const iface = name?.trim();
    if (!iface || !rest || iface === "lo" || /^(veth|berth|br-|docker|cni|vb-|ifb)/.test(iface)) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { netRx: rx, netTx: tx };
}

/** Bytes read and written by whole disks (partitions and virtual devices left out), from 512-byte sectors. */
function hostDisks(): { diskRead: number; diskWrite: number } {
  let read = 0;
  let write = 0;
  for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    const name = f[2];
    const partition = /^(sd|vd|hd|xvd)[a-z]+\d+$/.test(name ?? "") || /^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name ?? "");
    if (!name || partition || /^(loop|ram|dm-|md|sr|zram|nbd)/.test(name)) continue;
    read += Number(f[5] ?? 0) * 512;
    write += Number(f[9] ?? 0) * 512;
  }
  return { diskRead: read, diskWrite: write };
}

/**
 * The report frames of one round: the host's counters now, the containers' from the sampler's round
 * at `at`, split into frames of at most STATS_CONTAINERS_PER_FRAME containers (at least one frame).
 */
export function statsReports(round: { at: number; containers: StatsReport["containers"] }): StatsReport[] {
  const { at, containers } = round;
  const host = { ...hostCpu(), cpus: cpus().length || 1, ...hostMemory(), ...hostNetwork(), ...hostDisks() };
  const frames: StatsReport[] = [];
  for (let i = 0; i === 0 || i < containers.length; i += STATS_CONTAINERS_PER_FRAME) {
    frames.push({ type: "stats", at, host, containers: containers.slice(i, i + STATS_CONTAINERS_PER_FRAME) });
  }
  return frames;
}
