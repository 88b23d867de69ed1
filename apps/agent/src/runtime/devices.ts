// Host devices for a container (`--device`, `--device-cgroup-rule`), resolved and checked as
// dockerd does: a device path is stat'ed on the host (a directory gives every device under it),
// and cgroup rules are `type major:minor access` with `*` for any number.
import { readdirSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { SpecError } from "./spec-error.ts";

export interface LinuxDevice {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
  /** The cgroup access the container gets to it: a combination of r, w and m. */
  access: string;
}

export interface DeviceRequest {
  PathOnHost: string;
  PathInContainer?: string | undefined;
  CgroupPermissions?: string | undefined;
}

/** How many device nodes one directory may give, so `--device /dev` cannot make a spec of unbounded size. */
const MAX_DEVICES_PER_DIR = 1024;

function deviceAt(path: string): { type: "c" | "b"; major: number; minor: number; mode: number; uid: number; gid: number } | null {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) return null;
  // Linux's dev_t: major in bits 8-19 (and 32-43), minor in bits 0-7 and 20-31.
  const dev = st.rdev;
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return { type: st.isCharacterDevice() ? "c" : "b", major, minor, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The device nodes a container gets for its HostConfig.Devices. */
export function resolveDevices(requests: readonly DeviceRequest[]): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  for (const r of requests) {
    const access = r.CgroupPermissions || "rwm";
    if (!/^[rwm]{1,3}$/.test(access)) throw new SpecError(`invalid device mode: ${access}`);
    const inContainer = r.PathInContainer || r.PathOnHost;
    if (!inContainer.startsWith("/")) throw new SpecError(`${inContainer} is not an absolute path`);
    const st = statSync(r.PathOnHost, { throwIfNoEntry: false });
    if (!st)
      throw new SpecError(`error gathering device information while adding custom device "${r.PathOnHost}": no such file or directory`);
    if (st.isDirectory()) {
      // dockerd walks the directory and maps every device under it to the same relative path.
      for (const rel of walk(r.PathOnHost)) {
        const d = deviceAt(join(r.PathOnHost, rel));
        if (d) out.push(toLinux(posix.join(inContainer, rel), d, access));
      }
      continue;
    }
    const d = deviceAt(r.PathOnHost);
    if (!d) throw new SpecError(`error gathering device information while adding custom device "${r.PathOnHost}": not a device node`);
    out.push(toLinux(inContainer, d, access));
  }
  return out;
}

function toLinux(path: string, d: NonNullable<ReturnType<typeof deviceAt>>, access: string): LinuxDevice {
  return { path, type: d.type, major: d.major, minor: d.minor, fileMode: d.mode, uid: d.uid, gid: d.gid, access };
}

/** Paths of the files under `dir` (relative), at most MAX_DEVICES_PER_DIR, symlinks not followed. */
function walk(dir: string, rel = "", out: string[] = []): string[] {
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (out.length >= MAX_DEVICES_PER_DIR) break;
    const p = posix.join(rel, e.name);
    if (e.isDirectory()) walk(dir, p, out);
    else if (e.isCharacterDevice() || e.isBlockDevice()) out.push(p);
  }
  return out;
}

const RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** `--device-cgroup-rule` entries as OCI device cgroup allow rules. */
export function deviceCgroupRules(rules: readonly string[]): Array<Record<string, unknown>> {
  return rules.map((rule) => {
    const m = RULE.exec(rule.trim());
    if (!m) throw new SpecError(`invalid device cgroup format '${rule}'`);
    const [, type, major, minor, access] = m as unknown as [string, string, string, string, string];
    return {
      allow: true,
      type,
      ...(major === "*" ? {} : { major: Number(major) }),
      ...(minor === "*" ? {} : { minor: Number(minor) }),
      access,
    };
  });
}
