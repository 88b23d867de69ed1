import { execFile } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { fromMount, fromTmpfs, MountSpecError, parseBind, pathWithin, type ContainerConfig, type ParsedMount } from "@berth/protocol";
import type { OciMount } from "../runtime/index.ts";
import { ANONYMOUS_LABEL, type VolumeService } from "../volumes/index.ts";
import { mountOf } from "../mount/index.ts";
import { ContainerError } from "./errors.ts";
import { resolveInRoot } from "./root-path.ts";

const run = promisify(execFile);

/** A container's mount as persisted on its record and shown by inspect (Docker's MountPoint). */
export interface MountPoint {
  Type: "bind" | "volume" | "tmpfs";
  /** Volume name ("" otherwise). */
  Name: string;
  /** Host path: the bind source or the volume's data dir ("" for tmpfs). */
  Source: string;
  Destination: string;
  RW: boolean;
  Mode: string;
  Propagation: string;
  Driver: string;
  /** The image's content at Destination goes into the volume at the next start, if the volume is empty. */
  CopyUp: boolean;
  Anonymous: boolean;
  Tmpfs?: { sizeBytes?: number; mode?: number };
  /** A bind the team's container policy limits: its source must stay within these host paths, links resolved, at every start. */
  Within?: string[];
}

/** Where a host path really leads: its nearest existing ancestor with every link resolved, then the rest. */
export function realHostPath(path: string): string {
  const rest: string[] = [];
  for (let cur = path; ; ) {
    try {
      return join(realpathSync(cur), ...rest.reverse());
    } catch {
      const up = dirname(cur);
      if (up === cur) return path;
      rest.push(basename(cur));
      cur = up;
    }
  }
}

/** Refuses a bind whose source, links resolved, leads outside the allowed host paths. */
function checkWithin(source: string, within: string[]): void {
  const real = realHostPath(source);
  const roots = within.map(realHostPath);
  if (!pathWithin(real, roots)) {
    const via = real === source ? "" : ` (it leads to ${real})`;
    throw new ContainerError(
      `the team's container policy does not allow bind-mounting ${source}${via}: allowed are ${within.join(", ") || "no host paths"}`,
      "FORBIDDEN",
    );
  }
}

/**
 * Every mount of a new container from its create config and its image's VOLUMEs: Binds (`-v`),
 * Mounts (`--mount`), Tmpfs (`--tmpfs`), then anonymous volumes for Config.Volumes and the
 * image's VOLUMEs that nothing else covers. Named and anonymous volumes are created here, as
 * Docker does at create; a bind source that is missing is created for `-v` and refused for `--mount`.
 */
export function planMounts(
  config: ContainerConfig,
  imageVolumes: Record<string, unknown> | undefined,
  volumes: VolumeService,
  bindPrefixes?: string[],
  inherited: MountPoint[] = [],
): MountPoint[] {
  const host = config.HostConfig;
  const parsed: ParsedMount[] = [];
  try {
    for (const b of host.Binds ?? []) parsed.push(parseBind(b));
    for (const m of host.Mounts ?? []) parsed.push(fromMount(m));
    for (const [target, opts] of Object.entries(host.Tmpfs ?? {})) parsed.push(fromTmpfs(target, opts));
  } catch (e) {
    if (e instanceof MountSpecError) throw new ContainerError(e.message, "INVALID");
    throw e;
  }
  const seen = new Set<string>();
  for (const p of parsed) {
    if (seen.has(p.target)) throw new ContainerError(`Duplicate mount point: ${p.target}`, "INVALID");
    seen.add(p.target);
  }
  // `--volumes-from` mounts come under the container's own (those win on the same path), as dockerd orders them.
  const fromOthers = inherited.filter((m) => !seen.has(m.Destination));
  for (const m of fromOthers) {
    seen.add(m.Destination);
    if (m.Type === "bind" && bindPrefixes) checkWithin(m.Source, bindPrefixes);
  }
  const fromBinds = parsed.slice(0, host.Binds?.length ?? 0);
  const anonymousFrom = parsed.length;
  // VOLUME paths of the create config and the image become anonymous volumes unless mounted already.
  for (const target of [...Object.keys(config.Volumes ?? {}), ...Object.keys(imageVolumes ?? {})]) {
    const clean = `/${target.split("/").filter(Boolean).join("/")}`;
    if (!target.startsWith("/") || clean === "/")
      throw new ContainerError(`invalid volume path '${target}': it must be absolute and not /`, "INVALID");
    if (seen.has(clean)) continue;
    seen.add(clean);
    parsed.push({
      type: "volume",
      source: "",
      target: clean,
      readOnly: false,
      propagation: "rprivate",
      noCopy: false,
      mode: "",
      createSource: false,
    });
  }
  // HostConfig.VolumeDriver is the driver dockerd asks for the volumes of `-v` and of VOLUME paths (not
  // --mount's); only local exists here, so another fails when such a volume is wanted, and only then.
  const driver = host.VolumeDriver;
  if (driver && driver !== "local" && [...fromBinds, ...parsed.slice(anonymousFrom)].some((p) => p.type === "volume"))
    throw new ContainerError(`error looking up volume plugin ${driver}: plugin "${driver}" not found`, "NOT_FOUND");
  for (const p of parsed) {
    if (p.type !== "bind") continue;
    if (bindPrefixes) checkWithin(p.source, bindPrefixes);
    if (!existsSync(p.source)) {
      if (!p.createSource)
        throw new ContainerError(`invalid mount config for type "bind": bind source path does not exist: ${p.source}`, "INVALID");
      mkdirSync(p.source, { recursive: true, mode: 0o755 });
    }
  }
  const own = parsed.map((p): MountPoint => {
    const base = { Destination: p.target, RW: !p.readOnly, Mode: p.mode, CopyUp: false, Anonymous: false };
    if (p.type === "bind")
      return {
        ...base,
        Type: "bind",
        Name: "",
        Source: p.source,
        Propagation: p.propagation,
        Driver: "",
        ...(bindPrefixes ? { Within: bindPrefixes } : {}),
      };
    if (p.type === "tmpfs")
      return { ...base, Type: "tmpfs", Name: "", Source: "", Propagation: "", Driver: "", ...(p.tmpfs ? { Tmpfs: p.tmpfs } : {}) };
    const anonymous = p.source === "";
    const vol = volumes.create({
      ...(anonymous ? {} : { Name: p.source }),
      Labels: anonymous ? { [ANONYMOUS_LABEL]: "" } : (p.volumeLabels ?? null),
    });
    return {
      ...base,
      Type: "volume",
      Name: vol.Name,
      Source: vol.Mountpoint,
      Propagation: "",
      Driver: "local",
      CopyUp: !p.noCopy,
      Anonymous: anonymous,
    };
  });
  return [...fromOthers.map((m) => (bindPrefixes && m.Type === "bind" ? { ...m, Within: bindPrefixes } : m)), ...own];
}

/**
 * The mounts `--volumes-from ctr[:ro|:rw]` copies from other containers: theirs as they are, or
 * all read-only or read-write when a mode is given. They are not this container's anonymous
 * volumes (its `rm -v` leaves them to their owner).
 */
export function volumesFrom(specs: readonly string[], find: (ref: string) => { mounts?: MountPoint[] }): MountPoint[] {
  const out: MountPoint[] = [];
  for (const spec of specs) {
    const [ref = "", mode] = spec.split(":", 2) as [string, string?];
    if (mode !== undefined && !/^(ro|rw)(,?[zZ])?$|^[zZ]$/.test(mode)) throw new ContainerError(`invalid mode: ${mode}`, "INVALID");
    const ro = mode?.startsWith("ro");
    const rw = mode?.startsWith("rw");
    for (const m of find(ref).mounts ?? []) {
      // tmpfs mounts are the other container's memory, not something to share (dockerd skips them too).
      if (m.Type === "tmpfs" || out.some((o) => o.Destination === m.Destination)) continue;
      out.push({ ...m, RW: ro ? false : rw ? true : m.RW, CopyUp: false, Anonymous: false });
    }
  }
  return out;
}

/**
 * dockerd's check of a bind's propagation against the host: shared propagation needs a shared
 * source mount, slave propagation a shared or slave one.
 */
export function checkPropagation(points: readonly MountPoint[]): void {
  for (const p of points) {
    if (p.Type !== "bind" || !p.Propagation) continue;
    const wantsShared = p.Propagation === "shared" || p.Propagation === "rshared";
    const wantsSlave = p.Propagation === "slave" || p.Propagation === "rslave";
    if (!wantsShared && !wantsSlave) continue;
    const m = mountOf(realHostPath(p.Source));
    if (wantsShared && !m.shared)
      throw new ContainerError(`path ${p.Source} is mounted on ${m.mountPoint} but it is not a shared mount`, "INVALID");
    if (wantsSlave && !m.shared && !m.slave)
      throw new ContainerError(`path ${p.Source} is mounted on ${m.mountPoint} but it is not a shared or slave mount`, "INVALID");
  }
}

/**
 * Prepares the mounts of a container about to start: a named volume removed by force meanwhile
 * is made again, and an empty volume receives the image's content at its path (Docker's copy-up,
 * once). `rootfs` is the container's mounted root.
 */
export async function prepareMounts(points: MountPoint[], rootfs: string, volumes: VolumeService): Promise<boolean> {
  let changed = false;
  for (const p of points) {
    // A link swapped in under an allowed path since the create must not lead the mount out of it.
    if (p.Type === "bind" && p.Within) checkWithin(p.Source, p.Within);
    if (p.Type === "bind") checkPropagation([p]);
    if (p.Type !== "volume") continue;
    if (!volumes.get(p.Name)) volumes.create({ Name: p.Name, Labels: p.Anonymous ? { [ANONYMOUS_LABEL]: "" } : null });
    if (!p.CopyUp) continue;
    p.CopyUp = false;
    changed = true;
    if (!volumes.isEmpty(p.Name)) continue;
    const from = resolveInRoot(rootfs, p.Destination);
    if (!from || !existsSync(from) || !statSync(from).isDirectory()) continue;
    // cp -a keeps owners, modes, times, links and xattrs; `/.` copies the contents, dotfiles included.
    await run("cp", ["-a", "--", `${from}/.`, `${volumes.mountpoint(p.Name)}/`]);
  }
  return changed;
}

/** The OCI mounts, parents before children (Docker sorts by path depth). */
export function ociMounts(points: MountPoint[]): OciMount[] {
  const depth = (p: string) => p.split("/").filter(Boolean).length;
  return [...points]
    .sort((a, b) => depth(a.Destination) - depth(b.Destination))
    .map((p): OciMount => {
      if (p.Type === "tmpfs") {
        // Docker's tmpfs defaults; `exec`, `suid` or `dev` among the --tmpfs options lift one.
        const given = p.Mode.split(",");
        const opts = ["nosuid", "nodev", "noexec"].filter((o) => !given.includes(o.slice(2)));
        if (p.Tmpfs?.sizeBytes) opts.push(`size=${p.Tmpfs.sizeBytes}`);
        if (p.Tmpfs?.mode !== undefined) opts.push(`mode=${p.Tmpfs.mode.toString(8)}`);
        if (!p.RW) opts.push("ro");
        return { destination: p.Destination, type: "tmpfs", source: "tmpfs", options: opts };
      }
      return {
        destination: p.Destination,
        type: "bind",
        source: p.Source,
        options: ["rbind", p.RW ? "rw" : "ro", p.Propagation || "rprivate"],
      };
    });
}

/** Removes the anonymous volumes of a container that is gone (`docker rm -v`, `--rm`). */
export function removeAnonymousVolumes(mounts: MountPoint[] | undefined, volumes: VolumeService): void {
  for (const m of mounts ?? []) {
    if (m.Type !== "volume" || !m.Anonymous) continue;
    try {
      volumes.remove(m.Name);
    } catch {
      // Still used by another container, or already gone: kept, as Docker keeps it.
    }
  }
}
