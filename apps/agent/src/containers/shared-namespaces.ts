// A container's PID, IPC, UTS and network namespaces as its create asked: its own, the host's, or
// another container's (`container:<name|id>`), checked at create with dockerd's messages and
// resolved at each start to the paths runc joins. IPC has more modes: `shareable` gives the
// container a /dev/shm others may join (a tmpfs the agent mounts in the container's directory),
// `none` gives it none.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ContainerConfig, HostConfig } from "@berth/protocol";
import { isMountPoint, mountAll, unmount } from "../mount/index.ts";
import { cgroupV2, type Namespace } from "../runtime/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerPaths } from "./paths.ts";
import { isRunning, type ContainerRecord } from "./record.ts";

type Kind = "pid" | "ipc" | "uts" | "network";

const FIELD: Record<Kind, "PidMode" | "IpcMode" | "UTSMode" | "NetworkMode"> = {
  pid: "PidMode",
  ipc: "IpcMode",
  uts: "UTSMode",
  network: "NetworkMode",
};
/** dockerd's words for each in "cannot join … of a non running container". */
const JOIN_WORD: Record<Kind, string> = { pid: "PID", ipc: "IPC", uts: "UTS", network: "network" };
const SIMPLE_MODES: Record<Exclude<Kind, "network">, string[]> = {
  pid: ["", "host"],
  uts: ["", "host"],
  ipc: ["", "host", "private", "shareable", "none"],
};

/** The container a `container:<ref>` mode names, or null for any other mode. */
export function sharedWith(mode: string | undefined): string | null {
  return mode?.startsWith("container:") ? mode.slice("container:".length) : null;
}

/** The cgroup namespace a container gets: dockerd's default is private on cgroup v2 and the host's on v1. */
export function cgroupnsMode(host: HostConfig): "private" | "host" {
  return host.CgroupnsMode || (cgroupV2() ? "private" : "host");
}

/**
 * Refuses modes dockerd refuses at create: unknown ones, a `container:` naming no container, and
 * the settings a container that shares another's network cannot have.
 */
export function checkNamespaceModes(config: ContainerConfig, find: (ref: string) => ContainerRecord): void {
  const host = config.HostConfig;
  for (const kind of ["pid", "ipc", "uts"] as const) {
    const mode = host[FIELD[kind]] ?? "";
    const other = sharedWith(mode);
    if (other === null && !SIMPLE_MODES[kind].includes(mode)) throw new ContainerError(`invalid ${FIELD[kind]}: ${mode}`, "INVALID");
    if (other !== null) find(other);
  }
  if (host.UTSMode === "host" && config.Hostname) throw new ContainerError("conflicting options: hostname and the UTS mode", "INVALID");
  const netOwner = sharedWith(host.NetworkMode);
  if (netOwner === null) return;
  if (netOwner === "") throw new ContainerError("invalid network mode: container:", "INVALID");
  find(netOwner);
  const conflicts: Array<[boolean, string]> = [
    [Boolean(config.Hostname), "conflicting options: hostname and the network mode"],
    [
      Boolean(host.Links?.length),
      "conflicting options: container type network can't be used with links. This would result in undefined behavior",
    ],
    [Boolean(host.Dns?.length), "conflicting options: dns and the network mode"],
    [Boolean(host.ExtraHosts?.length), "conflicting options: custom host-to-IP mapping and the network mode"],
    [
      Boolean(host.PublishAllPorts || Object.keys(host.PortBindings ?? {}).length || Object.keys(config.ExposedPorts ?? {}).length),
      "conflicting options: port publishing and the container type network mode",
    ],
    [Boolean(config.MacAddress), "conflicting options: mac-address and the network mode"],
  ];
  for (const [conflict, message] of conflicts) if (conflict) throw new ContainerError(message, "INVALID");
}

/** Where a container's joinable /dev/shm lives (IPC mode shareable). */
export function shmDir(paths: ContainerPaths, id: string): string {
  return join(paths.dir(id), "shm");
}

export interface ResolvedNamespaces {
  network: Namespace;
  namespaces: { pid: Namespace; ipc: Namespace; uts: Namespace; cgroup: "host" | "private" };
  shm?: { bind: string } | "none";
  /** The container whose network this one shares (its /etc files are that container's). */
  networkOwner?: ContainerRecord;
}

/**
 * The namespaces a starting container joins. A `container:` target must be running (dockerd's
 * "cannot join … of a non running container"); a shareable /dev/shm is mounted here.
 */
export async function resolveNamespaces(
  rec: ContainerRecord,
  find: (ref: string) => ContainerRecord,
  paths: ContainerPaths,
): Promise<ResolvedNamespaces> {
  const host = rec.config.HostConfig;
  const join = (kind: Kind): { ns: Namespace; owner?: ContainerRecord } => {
    const mode = host[FIELD[kind]] ?? "";
    if (mode === "host") return { ns: "host" };
    const ref = sharedWith(mode);
    if (ref === null) return { ns: "private" };
    const owner = find(ref);
    if (owner.id === rec.id) throw new ContainerError(`cannot join own ${JOIN_WORD[kind]} namespace`, "INVALID");
    if (!isRunning(owner) || !owner.state.Pid) {
      throw new ContainerError(`cannot join ${JOIN_WORD[kind]} of a non running container: ${owner.id}`, "CONFLICT");
    }
    const file = kind === "network" ? "net" : kind;
    return { ns: { path: `/proc/${owner.state.Pid}/ns/${file}` }, owner };
  };
  const net = join("network");
  const ipc = join("ipc");
  const out: ResolvedNamespaces = {
    network: net.ns,
    namespaces: { pid: join("pid").ns, ipc: ipc.ns, uts: join("uts").ns, cgroup: cgroupnsMode(host) },
    ...(net.owner ? { networkOwner: net.owner } : {}),
  };
  const mode = host.IpcMode ?? "";
  if (mode === "none") out.shm = "none";
  else if (mode === "host") out.shm = { bind: "/dev/shm" };
  else if (mode === "shareable") out.shm = { bind: await mountShm(paths, rec) };
  else if (ipc.owner) out.shm = { bind: joinableShm(paths, ipc.owner) };
  return out;
}

/** The /dev/shm a container joining `owner`'s IPC namespace sees: the owner's, which must be joinable. */
function joinableShm(paths: ContainerPaths, owner: ContainerRecord): string {
  const mode = owner.config.HostConfig.IpcMode ?? "";
  if (mode === "host") return "/dev/shm";
  if (mode !== "shareable") throw new ContainerError("non-shareable IPC (hint: use IpcMode:shareable for the donor container)", "INVALID");
  return shmDir(paths, owner.id);
}

async function mountShm(paths: ContainerPaths, rec: ContainerRecord): Promise<string> {
  const dir = shmDir(paths, rec.id);
  if (isMountPoint(dir)) return dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const size = rec.config.HostConfig.ShmSize || 64 * 1024 * 1024;
  await mountAll([{ type: "tmpfs", source: "shm", options: ["nosuid", "nodev", "noexec", "mode=1777", `size=${size}`] }], dir);
  return dir;
}

/** Unmounts a shareable container's /dev/shm, if it is mounted (after its exit and at its removal). */
export async function releaseShm(paths: ContainerPaths, rec: ContainerRecord): Promise<void> {
  if (rec.config.HostConfig.IpcMode !== "shareable") return;
  const dir = shmDir(paths, rec.id);
  if (isMountPoint(dir)) await unmount(dir).catch(() => unmount(dir, { detach: true }));
}
