import type { Db } from "@berth/db";
import { DOCKER_DEFAULT_CAPABILITIES, fromMount, MountSpecError, normalizePath, parseBind, pathWithin, type Mount } from "@berth/protocol";
import { DomainError, invalid } from "./errors.ts";

/*
 * A team's container policy: what its operators may ask of a host's kernel. Without it, anyone who
 * may run a container may run `--privileged` or bind-mount `/`, which is root on the host. Admins
 * and owners are not bound by it. Every path from the control plane to an agent that creates a
 * container goes through `enforceContainerPolicy`; the agent checks bind sources again after
 * resolving their symlinks (a link inside an allowed directory must not lead out of it).
 */

export interface ContainerPolicyRules {
  allowPrivileged: boolean;
  allowHostNetwork: boolean;
  allowHostPid: boolean;
  allowHostIpc: boolean;
  allowHostUts: boolean;
  /** Host path prefixes that may be bind-mounted; none by default. */
  bindPrefixes: string[];
  /** Capabilities beyond Docker's default set that may be added (CAP_ names), or "ALL". */
  allowedCapabilities: string[];
  /** seccomp or AppArmor turned off, a custom seccomp profile, or unmasked system paths. */
  allowUnconfined: boolean;
  allowDevices: boolean;
}

export const DEFAULT_CONTAINER_POLICY: ContainerPolicyRules = {
  allowPrivileged: false,
  allowHostNetwork: false,
  allowHostPid: false,
  allowHostIpc: false,
  allowHostUts: false,
  bindPrefixes: [],
  allowedCapabilities: [],
  allowUnconfined: false,
  allowDevices: false,
};

/** The settings of a create request the policy looks at (Docker's HostConfig names). */
export interface PolicySubject {
  HostConfig?: {
    Privileged?: boolean | undefined;
    NetworkMode?: string | undefined;
    PidMode?: string | undefined;
    IpcMode?: string | undefined;
    UTSMode?: string | undefined;
    CapAdd?: string[] | null | undefined;
    SecurityOpt?: string[] | null | undefined;
    Binds?: string[] | null | undefined;
    Mounts?: Mount[] | null | undefined;
    Devices?: unknown[] | null | undefined;
    DeviceCgroupRules?: string[] | null | undefined;
    DeviceRequests?: unknown[] | null | undefined;
  };
}

const refuse = (setting: string, what: string) =>
  new DomainError(
    "FORBIDDEN",
    `the team's container policy does not allow ${what} (setting "${setting}"; an admin can change it in Settings → Container policy)`,
  );

/** `NET_ADMIN`, `cap_net_admin` → `CAP_NET_ADMIN`; `ALL` stays. */
export function capabilityName(name: string): string {
  const up = name.trim().toUpperCase();
  return up === "ALL" || up.startsWith("CAP_") ? up : `CAP_${up}`;
}

/** A host path made absolute and free of `.`, `..` and trailing slashes, for prefix checks. */
export function normalizeHostPath(p: string): string {
  if (!p.startsWith("/")) throw invalid(`a bind prefix must be an absolute path: '${p}'`);
  return normalizePath(p);
}

/** The host paths a create request bind-mounts. Malformed specs are left for the agent to refuse with Docker's message. */
export function bindSources(subject: PolicySubject): string[] {
  const hc = subject.HostConfig ?? {};
  const out: string[] = [];
  for (const spec of hc.Binds ?? []) {
    try {
      const m = parseBind(spec);
      if (m.type === "bind") out.push(m.source);
    } catch (e) {
      if (!(e instanceof MountSpecError)) throw e;
    }
  }
  for (const mount of hc.Mounts ?? []) {
    try {
      const m = fromMount(mount);
      if (m.type === "bind") out.push(m.source);
    } catch (e) {
      if (!(e instanceof MountSpecError)) throw e;
    }
  }
  return out;
}

/** Throws FORBIDDEN, naming the setting, when the request asks for something the policy does not allow. */
export function enforceContainerPolicy(rules: ContainerPolicyRules, subject: PolicySubject): void {
  const hc = subject.HostConfig ?? {};
  if (hc.Privileged && !rules.allowPrivileged) throw refuse("privileged", "privileged containers");
  if (hc.NetworkMode === "host" && !rules.allowHostNetwork) throw refuse("host network", "the host's network namespace (--network host)");
  if (hc.PidMode === "host" && !rules.allowHostPid) throw refuse("host PID", "the host's PID namespace (--pid host)");
  if (hc.IpcMode === "host" && !rules.allowHostIpc) throw refuse("host IPC", "the host's IPC namespace (--ipc host)");
  if (hc.UTSMode === "host" && !rules.allowHostUts) throw refuse("host UTS", "the host's UTS namespace (--uts host)");
  const defaults = new Set<string>(DOCKER_DEFAULT_CAPABILITIES);
  const allowed = new Set(rules.allowedCapabilities.map(capabilityName));
  for (const raw of hc.CapAdd ?? []) {
    const cap = capabilityName(raw);
    if (defaults.has(cap) || allowed.has("ALL") || allowed.has(cap)) continue;
    throw refuse(
      "capabilities",
      `adding ${cap === "ALL" ? "every capability (--cap-add ALL)" : cap}, which is beyond Docker's default set`,
    );
  }
  if (!rules.allowUnconfined) {
    for (const opt of hc.SecurityOpt ?? []) {
      const [key, value = ""] = opt.split(/[=:]/, 2) as [string, string?];
      if (key === "seccomp" && value !== "")
        throw refuse("seccomp and AppArmor", value === "unconfined" ? "turning seccomp off" : "a custom seccomp profile");
      if (key === "apparmor" && value === "unconfined") throw refuse("seccomp and AppArmor", "turning AppArmor off");
      if (key === "systempaths" && value === "unconfined")
        throw refuse("seccomp and AppArmor", "unmasking /proc and /sys (systempaths=unconfined)");
    }
  }
  if (
    !rules.allowDevices &&
    ((hc.Devices?.length ?? 0) > 0 || (hc.DeviceCgroupRules?.length ?? 0) > 0 || (hc.DeviceRequests?.length ?? 0) > 0)
  ) {
    throw refuse("devices", "host devices (--device)");
  }
  for (const source of bindSources(subject)) {
    if (!pathWithin(source, rules.bindPrefixes)) {
      throw refuse(
        "bind mounts",
        `bind-mounting ${source} from the host${rules.bindPrefixes.length ? ` (allowed: ${rules.bindPrefixes.join(", ")})` : ""}`,
      );
    }
  }
}

export async function getContainerPolicy(db: Db, teamId: string): Promise<ContainerPolicyRules> {
  const row = await db.containerPolicy.findUnique({ where: { teamId } });
  if (!row) return { ...DEFAULT_CONTAINER_POLICY };
  return {
    allowPrivileged: row.allowPrivileged,
    allowHostNetwork: row.allowHostNetwork,
    allowHostPid: row.allowHostPid,
    allowHostIpc: row.allowHostIpc,
    allowHostUts: row.allowHostUts,
    bindPrefixes: row.bindPrefixes,
    allowedCapabilities: row.allowedCapabilities,
    allowUnconfined: row.allowUnconfined,
    allowDevices: row.allowDevices,
  };
}

export async function setContainerPolicy(
  db: Db,
  teamId: string,
  rules: ContainerPolicyRules,
  updatedById: string | null,
): Promise<ContainerPolicyRules> {
  const clean: ContainerPolicyRules = {
    ...rules,
    bindPrefixes: [...new Set(rules.bindPrefixes.map(normalizeHostPath))],
    allowedCapabilities: [...new Set(rules.allowedCapabilities.map(capabilityName))],
  };
  await db.containerPolicy.upsert({ where: { teamId }, update: { ...clean, updatedById }, create: { teamId, ...clean, updatedById } });
  return clean;
}
