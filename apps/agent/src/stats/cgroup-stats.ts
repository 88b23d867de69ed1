import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

/*
 * One-shot container stats in Docker's /containers/{id}/stats shape, read from the cgroup
 * filesystem (v1 and v2) and the container's network namespace (/proc/<pid>/net/dev).
 * The files are kernel pseudo-files that answer at once, so they are read synchronously: an
 * async read costs a thread-pool round trip per file, which dominated sampling 500 containers.
 */

const CGROUP_ROOT = "/sys/fs/cgroup";
const IS_V2 = existsSync(join(CGROUP_ROOT, "cgroup.controllers"));
const ONLINE_CPUS = cpus().length;

// One buffer for every read: the files are small, and readFileSync would also fstat each one.
const buf = Buffer.allocUnsafe(64 * 1024);

function text(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      // A file larger than the buffer (none of the stats files is) is read the ordinary way.
      if (len === buf.length) return readFileSync(path, "utf8");
    }
    return buf.toString("utf8", 0, len);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function num(path: string): number | null {
  const t = text(path)?.trim();
  if (t === undefined || t === null || t === "") return null;
  if (t === "max") return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

function keyValues(t: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (t ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: { io_service_bytes_recursive: BlkioEntry[] | null };
  num_procs: number;
  cpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
    system_cpu_usage: number;
    online_cpus: number;
    throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
  };
  precpu_stats: ContainerStats["cpu_stats"] | Record<string, never>;
  memory_stats: { usage?: number; max_usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<
    string,
    {
      rx_bytes: number;
      rx_packets: number;
      rx_errors: number;
      rx_dropped: number;
      tx_bytes: number;
      tx_packets: number;
      tx_errors: number;
      tx_dropped: number;
    }
  >;
}

const USER_HZ = 100;

/** No memory limit reads as a huge number (or "max"); Docker reports the host's memory instead. */
function hostBounded(limit: number): number {
  return Math.min(limit, totalmem());
}

/** The host's total CPU time in nanoseconds (Docker's system_cpu_usage). */
export function systemCpuUsage(): number {
  const line = text("/proc/stat")
    ?.split("\n")
    .find((l) => l.startsWith("cpu "));
  if (!line) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .map(Number)
    .reduce((a, b) => a + b, 0);
  return (ticks * 1e9) / USER_HZ;
}

function networkStats(pid: number): ContainerStats["networks"] {
  if (pid <= 0) return undefined;
  const t = text(`/proc/${pid}/net/dev`);
  if (!t) return undefined;
  const out: NonNullable<ContainerStats["networks"]> = {};
  for (const line of t.split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = {
      rx_bytes: f[0]!,
      rx_packets: f[1]!,
      rx_errors: f[2]!,
      rx_dropped: f[3]!,
      tx_bytes: f[8]!,
      tx_packets: f[9]!,
      tx_errors: f[10]!,
      tx_dropped: f[11]!,
    };
  }
  return out;
}

type CgroupFigures = Omit<ContainerStats, "read" | "preread" | "precpu_stats" | "networks">;

function v1(cgroupsPath: string, system: number): CgroupFigures {
  const p = (controller: string, file: string) => join(CGROUP_ROOT, controller, cgroupsPath, file);
  const [total, percpu, cpuacctStat, cpuStat, memUsage, memMax, memLimit, memStat, pids, pidsMax, blkio] = [
    num(p("cpuacct", "cpuacct.usage")),
    text(p("cpuacct", "cpuacct.usage_percpu")),
    text(p("cpuacct", "cpuacct.stat")),
    text(p("cpu", "cpu.stat")),
    num(p("memory", "memory.usage_in_bytes")),
    num(p("memory", "memory.max_usage_in_bytes")),
    num(p("memory", "memory.limit_in_bytes")),
    text(p("memory", "memory.stat")),
    num(p("pids", "pids.current")),
    num(p("pids", "pids.max")),
    text(p("blkio", "blkio.throttle.io_service_bytes_recursive")),
  ] as const;
  const ticks = keyValues(cpuacctStat);
  const throttle = keyValues(cpuStat);
  const blk: BlkioEntry[] = [];
  for (const line of (blkio ?? "").split("\n")) {
    const m = /^(\d+):(\d+)\s+(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) blk.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!.toLowerCase(), value: Number(m[4]) });
  }
  return {
    pids_stats: { ...(pids !== null ? { current: pids } : {}), ...(pidsMax !== null ? { limit: pidsMax } : {}) },
    blkio_stats: { io_service_bytes_recursive: blk.length ? blk : null },
    num_procs: 0,
    cpu_stats: {
      cpu_usage: {
        total_usage: total ?? 0,
        percpu_usage: (percpu ?? "").trim().split(/\s+/).filter(Boolean).map(Number),
        usage_in_kernelmode: ((ticks.system ?? 0) * 1e9) / USER_HZ,
        usage_in_usermode: ((ticks.user ?? 0) * 1e9) / USER_HZ,
      },
      system_cpu_usage: system,
      online_cpus: ONLINE_CPUS,
      throttling_data: {
        periods: throttle.nr_periods ?? 0,
        throttled_periods: throttle.nr_throttled ?? 0,
        throttled_time: throttle.throttled_time ?? 0,
      },
    },
    memory_stats: {
      ...(memUsage !== null ? { usage: memUsage } : {}),
      ...(memMax !== null ? { max_usage: memMax } : {}),
      ...(memLimit !== null ? { limit: hostBounded(memLimit) } : {}),
      stats: keyValues(memStat),
    },
  };
}

function v2(cgroupsPath: string, system: number): CgroupFigures {
  const p = (file: string) => join(CGROUP_ROOT, cgroupsPath, file);
  const [cpuStat, memCurrent, memMax, memStat, pids, pidsMax, io] = [
    text(p("cpu.stat")),
    num(p("memory.current")),
    num(p("memory.max")),
    text(p("memory.stat")),
    num(p("pids.current")),
    num(p("pids.max")),
    text(p("io.stat")),
  ] as const;
  const cpu = keyValues(cpuStat);
  const blk: BlkioEntry[] = [];
  for (const line of (io ?? "").split("\n")) {
    const m = /^(\d+):(\d+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries(m[3]!.split(/\s+/).map((x) => x.split("=") as [string, string]));
    blk.push({ major: Number(m[1]), minor: Number(m[2]), op: "read", value: Number(kv.rbytes ?? 0) });
    blk.push({ major: Number(m[1]), minor: Number(m[2]), op: "write", value: Number(kv.wbytes ?? 0) });
  }
  return {
    pids_stats: { ...(pids !== null ? { current: pids } : {}), ...(pidsMax !== null ? { limit: pidsMax } : {}) },
    blkio_stats: { io_service_bytes_recursive: blk.length ? blk : null },
    num_procs: 0,
    cpu_stats: {
      cpu_usage: {
        total_usage: (cpu.usage_usec ?? 0) * 1000,
        usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000,
        usage_in_usermode: (cpu.user_usec ?? 0) * 1000,
      },
      system_cpu_usage: system,
      online_cpus: ONLINE_CPUS,
      throttling_data: {
        periods: cpu.nr_periods ?? 0,
        throttled_periods: cpu.nr_throttled ?? 0,
        throttled_time: (cpu.throttled_usec ?? 0) * 1000,
      },
    },
    memory_stats: {
      ...(memCurrent !== null ? { usage: memCurrent } : {}),
      limit: hostBounded(memMax ?? Infinity),
      stats: keyValues(memStat),
    },
  };
}

/**
 * A one-shot sample; `previous` (the last sample) fills precpu_stats as Docker's stream does.
 * `system` is the host's CPU time read once for a whole round of containers (a collector's tick).
 */
export function readContainerStats(cgroupsPath: string, pid: number, previous?: ContainerStats, system = systemCpuUsage()): ContainerStats {
  const base = IS_V2 ? v2(cgroupsPath, system) : v1(cgroupsPath, system);
  const networks = networkStats(pid);
  return {
    read: new Date().toISOString(),
    preread: previous?.read ?? "0001-01-01T00:00:00Z",
    ...base,
    precpu_stats: previous?.cpu_stats ?? {},
    ...(networks ? { networks } : {}),
  };
}
