import { existsSync } from "node:fs";
import { release } from "node:os";
import type { HostConfig } from "@berth/protocol";
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  defaultSeccompProfile,
  hostCapabilities,
  needsCompat32,
  type SeccompHost,
} from "./security-defaults.ts";
import type { ResolvedUser } from "./users.ts";
import { SpecError } from "./spec-error.ts";
import { deviceCgroupRules, type LinuxDevice } from "./devices.ts";
import { cgroupV2 } from "./cgroup-version.ts";

export { SpecError };

/** A namespace of the container: its own, the host's, or another process's (`/proc/<pid>/ns/<type>`). */
export type Namespace = "private" | "host" | { path: string };

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  tty: boolean;
  host: HostConfig;
  /** cgroupfs path for the container, e.g. /berth/<id>. */
  cgroupsPath: string;
  /** "host" shares the host's network namespace; "private" gives the container its own. */
  network: Namespace;
  /** The other namespaces (private unless the create said host or another container's); network's above. */
  namespaces?: Partial<Record<"pid" | "ipc" | "uts", Namespace>> & { cgroup?: "host" | "private" };
  /** /dev/shm: a tmpfs of its own (the default), a host directory bound over it (host and shared IPC), or none. */
  shm?: { bind: string } | "none";
  /** The image's architecture (OCI name): an image for the host's 32-bit ABI gets its syscalls allowed. */
  imageArchitecture?: string | undefined;
  /** Host devices given to the container (resolved by devices.ts). */
  devices?: LinuxDevice[];
  mounts: OciMount[];
  /** The agent's own RLIMIT_NOFILE hard limit: a container can never be given more. */
  nofileHard: number;
  /** Host path of a static init (tini) when HostConfig.Init is set. */
  initPath?: string;
}

const MiB = 1024 * 1024;
const INIT_IN_CONTAINER = "/sbin/docker-init";

/** Docker's `--cap-add`/`--cap-drop` names: `NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`. */
function capName(c: string): string {
  const up = c.trim().toUpperCase();
  const name = up === "ALL" ? "ALL" : up.startsWith("CAP_") ? up : `CAP_${up}`;
  if (name !== "ALL" && !(ALL_CAPABILITIES as readonly string[]).includes(name)) throw new SpecError(`invalid capability: ${c}`);
  return name;
}

const available = hostCapabilities();

export function capabilities(host: HostConfig): string[] {
  if (host.Privileged) return [...available];
  const add = (host.CapAdd ?? []).map(capName);
  const drop = (host.CapDrop ?? []).map(capName);
  for (const c of add)
    if (c !== "ALL" && !available.includes(c))
      throw new SpecError(`capability ${c} is not available on this host (the agent does not hold it)`);
  let caps = new Set<string>(add.includes("ALL") ? available : DEFAULT_CAPABILITIES.filter((c) => available.includes(c)));
  for (const c of add) if (c !== "ALL") caps.add(c);
  // A drop wins over an add of the same capability, as in Docker.
  if (drop.includes("ALL")) caps = new Set(add.filter((c) => c !== "ALL"));
  for (const c of drop) caps.delete(c);
  return [...caps].sort();
}

interface SecurityOpts {
  noNewPrivileges: boolean;
  seccomp: boolean;
}

function securityOpts(host: HostConfig): SecurityOpts {
  const out: SecurityOpts = { noNewPrivileges: false, seccomp: !host.Privileged };
  for (const raw of host.SecurityOpt ?? []) {
    const [key, value] = raw.includes("=")
      ? (raw.split(/=(.*)/s, 2) as [string, string])
      : raw.includes(":")
        ? (raw.split(/:(.*)/s, 2) as [string, string])
        : [raw, "true"];
    if (key === "no-new-privileges") {
      if (value !== "true" && value !== "false") throw new SpecError(`invalid --security-opt 2: "${raw}"`);
      out.noNewPrivileges = value === "true";
    } else if (key === "seccomp") {
      if (value !== "unconfined") throw new SpecError(`seccomp profiles other than "unconfined" are not supported yet: "${raw}"`);
      out.seccomp = false;
    } else if (key === "apparmor" || key === "label") {
      // No LSM is in use on these hosts; accepted so configs written for Docker still run.
    } else {
      throw new SpecError(`invalid --security-opt 1: "${raw}"`);
    }
  }
  return out;
}

const RLIMITS: Record<string, string> = {
  core: "RLIMIT_CORE",
  cpu: "RLIMIT_CPU",
  data: "RLIMIT_DATA",
  fsize: "RLIMIT_FSIZE",
  locks: "RLIMIT_LOCKS",
  memlock: "RLIMIT_MEMLOCK",
  msgqueue: "RLIMIT_MSGQUEUE",
  nice: "RLIMIT_NICE",
  nofile: "RLIMIT_NOFILE",
  nproc: "RLIMIT_NPROC",
  rss: "RLIMIT_RSS",
  rtprio: "RLIMIT_RTPRIO",
  rttime: "RLIMIT_RTTIME",
  sigpending: "RLIMIT_SIGPENDING",
  stack: "RLIMIT_STACK",
};

function rlimits(host: HostConfig, nofileHard: number): Array<{ type: string; soft: number; hard: number }> {
  const out = new Map<string, { type: string; soft: number; hard: number }>();
  out.set("RLIMIT_NOFILE", { type: "RLIMIT_NOFILE", soft: nofileHard, hard: nofileHard });
  for (const u of host.Ulimits ?? []) {
    const type = RLIMITS[u.Name];
    if (!type) throw new SpecError(`invalid ulimit type: ${u.Name}`);
    if (u.Soft > u.Hard && u.Hard !== -1)
      throw new SpecError(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
    // Raising a hard limit needs CAP_SYS_RESOURCE, which the agent may not have (it does not here).
    if (type === "RLIMIT_NOFILE" && (u.Hard > nofileHard || u.Hard === -1))
      throw new SpecError(`ulimit nofile=${u.Soft}:${u.Hard} is above this host's hard limit of ${nofileHard}`);
    const unlimited = 2 ** 64 - 1;
    out.set(type, { type, soft: u.Soft === -1 ? unlimited : u.Soft, hard: u.Hard === -1 ? unlimited : u.Hard });
  }
  return [...out.values()];
}

/** Docker's namespaced sysctls: the only ones a container may set. */
function checkSysctls(sysctls: Record<string, string>, network: Namespace): void {
  for (const key of Object.keys(sysctls)) {
    const ipc = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+)$/.test(key);
    const net = /^net\./.test(key);
    if (ipc) continue;
    if (net && network === "private") continue;
    if (net && network === "host") throw new SpecError(`sysctl "${key}" not allowed in host network namespace`);
    if (net) throw new SpecError(`sysctl "${key}" is not allowed: the container shares another container's network namespace`);
    throw new SpecError(
      `sysctl "${key}" is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set`,
    );
  }
}

/** OCI LinuxResources from Docker's HostConfig limits (also used by `update`). */
export function resources(host: HostConfig): Record<string, unknown> {
  const memory: Record<string, unknown> = {};
  if (host.Memory) {
    if (host.Memory < 6 * MiB) throw new SpecError("Minimum memory limit allowed is 6MB");
    memory.limit = host.Memory;
    // Docker's default: as much swap as memory (memory+swap = 2× memory); -1 is unlimited swap.
    memory.swap = host.MemorySwap === -1 ? -1 : host.MemorySwap ? host.MemorySwap : host.Memory * 2;
    if (host.MemorySwap && host.MemorySwap > 0 && host.MemorySwap < host.Memory)
      throw new SpecError("Minimum memoryswap limit should be larger than memory limit, see usage");
  } else if (host.MemorySwap && host.MemorySwap > 0) {
    throw new SpecError("You should always set the Memory limit when using Memoryswap limit, see usage");
  }
  if (host.MemoryReservation) memory.reservation = host.MemoryReservation;
  // cgroup v2 has no swappiness; dockerd discards it there with a warning (see swappinessWarning).
  if (host.MemorySwappiness !== undefined && host.MemorySwappiness !== null && host.MemorySwappiness >= 0 && !cgroupV2())
    memory.swappiness = host.MemorySwappiness;
  if (host.OomKillDisable) memory.disableOOMKiller = true;
  const cpu: Record<string, unknown> = {};
  if (host.NanoCpus) {
    if (host.CpuQuota || host.CpuPeriod) throw new SpecError("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
    cpu.period = 100_000;
    cpu.quota = Math.round((host.NanoCpus * 100_000) / 1e9);
  }
  if (host.CpuQuota) cpu.quota = host.CpuQuota;
  if (host.CpuPeriod) cpu.period = host.CpuPeriod;
  if (host.CpuShares) cpu.shares = host.CpuShares;
  if (host.CpusetCpus) cpu.cpus = host.CpusetCpus;
  if (host.CpuRealtimePeriod && cpuRealtime()) cpu.realtimePeriod = host.CpuRealtimePeriod;
  if (host.CpuRealtimeRuntime && cpuRealtime()) cpu.realtimeRuntime = host.CpuRealtimeRuntime;
  if (host.CpusetMems) cpu.mems = host.CpusetMems;
  const out: Record<string, unknown> = {};
  if (Object.keys(memory).length) out.memory = memory;
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (host.PidsLimit && host.PidsLimit > 0) out.pids = { limit: host.PidsLimit };
  return out;
}

/** Device access every container gets (Docker's list); everything else is denied. */
const ALLOWED_DEVICES = [
  { type: "c", major: 1, minor: 3 }, // null
  { type: "c", major: 1, minor: 5 }, // zero
  { type: "c", major: 1, minor: 7 }, // full
  { type: "c", major: 1, minor: 8 }, // random
  { type: "c", major: 1, minor: 9 }, // urandom
  { type: "c", major: 5, minor: 0 }, // tty
  { type: "c", major: 5, minor: 1 }, // console
  { type: "c", major: 5, minor: 2 }, // ptmx
  { type: "c", major: 136 }, // pts
  { type: "c", major: 10, minor: 200 }, // tun
];

/** Does the kernel have real-time group scheduling (cgroup v1's cpu.rt_runtime_us)? */
function cpuRealtime(): boolean {
  rtSupported ??= !cgroupV2() && existsSync("/sys/fs/cgroup/cpu/cpu.rt_runtime_us");
  return rtSupported;
}
let rtSupported: boolean | undefined;

/** dockerd's warnings for settings it discards on this host, and its refusal of inconsistent ones. */
export function resourceWarnings(host: HostConfig): string[] {
  const period = host.CpuRealtimePeriod ?? 0;
  const runtime = host.CpuRealtimeRuntime ?? 0;
  if (period && runtime && period < runtime) throw new SpecError("cpu-rt-runtime cannot be higher than cpu-rt-period");
  const out = [swappinessWarning(host)].filter((w): w is string => w !== null);
  if ((period || runtime) && !cpuRealtime()) out.push("Your kernel does not support CPU real-time scheduler");
  return out;
}

/** dockerd's warning for a swappiness it cannot apply (cgroup v2), or null. */
function swappinessWarning(host: HostConfig): string | null {
  const set = host.MemorySwappiness !== undefined && host.MemorySwappiness !== null && host.MemorySwappiness >= 0;
  return set && cgroupV2()
    ? "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded."
    : null;
}

function namespace(type: string, ns: Namespace | undefined): Array<{ type: string; path?: string }> {
  if (ns === "host") return [];
  if (ns && ns !== "private") return [{ type, path: ns.path }];
  return [{ type }];
}

/** /dev/shm as the IPC mode has it. */
function shmMount(input: SpecInput, size: number): OciMount[] {
  if (input.shm === "none") return [];
  if (input.shm)
    return [{ destination: "/dev/shm", type: "bind", source: input.shm.bind, options: ["rbind", "nosuid", "noexec", "nodev"] }];
  return [{ destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${size}`] }];
}

const kernelRelease = release();

function seccompHost(imageArchitecture: string | undefined): SeccompHost {
  return { arch: process.arch, kernelRelease, compat32: needsCompat32(imageArchitecture) };
}

/** The OCI runtime spec (config.json) for one container. */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  const { host } = input;
  const caps = capabilities(host);
  const sec = securityOpts(host);
  const sysctls = host.Sysctls ?? {};
  checkSysctls(sysctls, input.network);
  const shm = host.ShmSize || 64 * MiB;
  const args = host.Init ? [INIT_IN_CONTAINER, "--", ...input.args] : input.args;
  if (host.Init && !input.initPath) throw new SpecError("--init needs tini on the host (Debian package tini)");

  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", host.Privileged ? "rw" : "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", host.Privileged ? "rw" : "ro"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    ...shmMount(input, shm),
    ...(host.Init && input.initPath
      ? [{ destination: INIT_IN_CONTAINER, type: "bind", source: input.initPath, options: ["rbind", "ro"] }]
      : []),
    ...input.mounts,
  ];
  const ns = input.namespaces ?? {};
  const namespaces = [
    ...namespace("pid", ns.pid),
    ...namespace("ipc", ns.ipc),
    ...namespace("uts", ns.uts),
    { type: "mount" },
    ...namespace("network", input.network),
    ...(ns.cgroup === "private" ? [{ type: "cgroup" }] : []),
  ];
  const devices = input.devices ?? [];
  // Sharing the host's or another's UTS namespace means having that hostname, and a host-network
  // container keeps the host's name in a UTS namespace of its own (as Docker's do).
  const ownUts = (ns.uts === undefined || ns.uts === "private") && input.network === "private";

  return {
    ociVersion: "1.0.2",
    process: {
      terminal: input.tty,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}),
      },
      args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] },
      rlimits: rlimits(host, input.nofileHard),
      noNewPrivileges: sec.noNewPrivileges,
      oomScoreAdj: host.OomScoreAdj ?? 0,
    },
    root: { path: "rootfs", readonly: Boolean(host.ReadonlyRootfs) },
    hostname: ownUts ? input.hostname : undefined,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: {
        devices: host.Privileged
          ? [{ allow: true, access: "rwm" }]
          : [
              { allow: false, access: "rwm" },
              ...ALLOWED_DEVICES.map((d) => ({ allow: true, access: "rwm", ...d })),
              ...devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access })),
              ...deviceCgroupRules(host.DeviceCgroupRules ?? []),
            ],
        ...resources(host),
      },
      sysctl: sysctls,
      ...(devices.length
        ? { devices: devices.map(({ path, type, major, minor, fileMode, uid, gid }) => ({ path, type, major, minor, fileMode, uid, gid })) }
        : {}),
      ...(host.Privileged ? {} : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] }),
      ...(sec.seccomp ? { seccomp: defaultSeccompProfile(caps, seccompHost(input.imageArchitecture)) } : {}),
    },
  };
}
