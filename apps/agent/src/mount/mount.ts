import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { run, ProgramError } from "./exec.ts";
import { HelperUnavailableError, MNT_DETACH, MS, SyscallError, syscall } from "./syscall-helper.ts";
import { AgentError } from "../errors.ts";

/*
 * mount(2)/umount2(2) through the syscall helper (mount(8)/umount(8) with argument arrays when it
 * is unavailable). A Mount is the description the snapshotter hands out (containerd's shape);
 * mountAll performs a list of them on one target.
 */

const MOUNT = "/bin/mount";
const UMOUNT = "/bin/umount";

export interface Mount {
  type: "overlay" | "bind" | "tmpfs";
  source: string;
  options: string[];
}

export class MountError extends AgentError {
  override name = "MountError";
  constructor(message: string, cause?: unknown) {
    super(message, "FAILED", { cause });
  }
}

/** mount(8) splits -o on commas, so an option carrying a comma would be misread: refuse it. */
function optionString(m: Mount): string {
  for (const o of m.options) {
    if (o.includes(",")) throw new MountError(`mount option contains a comma: ${JSON.stringify(o)}`);
  }
  return m.options.join(",");
}

/** mount(2) takes the option string in one page; stay well below it. */
const MAX_OPTIONS = 4000;
const PATH_OPTIONS = ["lowerdir", "upperdir", "workdir"];

function commonDir(paths: string[]): string {
  let common = paths[0] ?? "/";
  for (const p of paths) {
    while (common !== "/" && p !== common && !p.startsWith(common.endsWith(sep) ? common : common + sep)) common = dirname(common);
  }
  return common;
}

/**
 * Long layer chains overflow the option page. Like containerd, rewrite the overlay directories
 * relative to their common parent and mount from there (the kernel resolves them against
 * the caller's working directory).
 */
function overlayOptions(m: Mount): { options: string; cwd?: string } {
  const opts = optionString(m);
  if (Buffer.byteLength(opts) <= MAX_OPTIONS) return { options: opts };
  const split = m.options.map((o) => {
    const eq = o.indexOf("=");
    const key = eq > 0 ? o.slice(0, eq) : o;
    return { key, dirs: PATH_OPTIONS.includes(key) ? o.slice(eq + 1).split(":") : undefined, raw: o };
  });
  const all = split.flatMap((o) => o.dirs ?? []);
  if (all.some((d) => !isAbsolute(d))) throw new MountError("overlay options too long and not made of absolute paths");
  const cwd = commonDir(all);
  const short = split.map((o) => (o.dirs ? `${o.key}=${o.dirs.map((d) => relative(cwd, d) || ".").join(":")}` : o.raw)).join(",");
  if (Buffer.byteLength(short) > MAX_OPTIONS)
    throw new MountError(`overlay mount options are ${Buffer.byteLength(short)} bytes even with relative paths; too many layers`);
  return { options: short, cwd };
}

/** The options mount(8) turns into mount(2) flags; the rest go to the filesystem as its data string. */
const FLAG_OPTIONS: Record<string, number> = {
  ro: MS.RDONLY,
  rw: 0,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
};

function splitOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options.split(",")) {
    if (!o) continue;
    if (o in FLAG_OPTIONS) flags |= FLAG_OPTIONS[o]!;
    else data.push(o);
  }
  return { flags, data: data.join(",") };
}

async function mountOverlay(m: Mount, target: string): Promise<void> {
  const { options, cwd } = overlayOptions(m);
  const { flags, data } = splitOptions(options);
  try {
    await syscall({ op: "mount", source: m.source || "overlay", target, fstype: "overlay", flags, data, ...(cwd ? { cwd } : {}) });
  } catch (e) {
    if (!(e instanceof HelperUnavailableError)) throw e;
    await run(MOUNT, ["-t", "overlay", "-o", options, "--", m.source || "overlay", target], cwd ? { cwd } : {});
  }
}

/** Propagation a bind may be given: private keeps unmounting the copy from reaching the source's peers. */
const PROPAGATION: Record<string, number> = { private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC };

async function mountBind(m: Mount, target: string): Promise<void> {
  // As mount(8) does for "-o bind,ro": the bind first, then a remount that applies the flags.
  const recursive = m.options.includes("rbind");
  const rest = m.options.filter((o) => o !== "bind" && o !== "rbind" && !(o in PROPAGATION));
  const propagation = m.options.reduce((f, o) => f | (PROPAGATION[o] ?? 0), 0);
  const { flags, data } = splitOptions(rest.join(","));
  if (data) throw new MountError(`bind mount options not understood: ${data}`);
  try {
    await syscall({ op: "mount", source: m.source, target, fstype: null, flags: MS.BIND | (recursive ? MS.REC : 0), data: null });
    if (propagation) await syscall({ op: "mount", source: "none", target, fstype: null, flags: propagation, data: null });
    if (flags) await syscall({ op: "mount", source: "none", target, fstype: null, flags: MS.REMOUNT | MS.BIND | flags, data: null });
  } catch (e) {
    if (!(e instanceof HelperUnavailableError)) throw e;
    const prop = m.options.filter((o) => o in PROPAGATION);
    await run(MOUNT, ["-o", [recursive ? "rbind" : "bind", ...rest, ...prop].join(","), "--", m.source, target]);
  }
}

async function mountTmpfs(m: Mount, target: string): Promise<void> {
  const { flags, data } = splitOptions(m.options.join(","));
  try {
    await syscall({ op: "mount", source: m.source || "tmpfs", target, fstype: "tmpfs", flags, data });
  } catch (e) {
    if (!(e instanceof HelperUnavailableError)) throw e;
    await run(MOUNT, ["-t", "tmpfs", "-o", m.options.join(","), "--", m.source || "tmpfs", target]);
  }
}

/** Performs the mounts in order on `target`; if one fails, the ones already done are undone. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    const abs = resolve(target);
    for (const m of mounts) {
      optionString(m);
      if (m.type === "overlay") await mountOverlay(m, abs);
      else if (m.type === "tmpfs") await mountTmpfs(m, abs);
      else await mountBind(m, abs);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmount(target).catch(() => undefined);
    if (err instanceof MountError) throw err;
    throw new MountError(`mounting on ${target} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/**
 * Unmounts `target`. `detach` uses a lazy unmount (MNT_DETACH) for busy mounts.
 * A target that is not mounted is not an error, so cleanup paths can call this unconditionally.
 */
export async function unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
  try {
    await syscall({ op: "umount", target: resolve(target), flags: opts.detach ? MNT_DETACH : 0 });
    return;
  } catch (err) {
    // EINVAL: not a mount point; ENOENT: no such path. Neither is mounted.
    if (err instanceof SyscallError && (err.errno === 22 || err.errno === 2)) return;
    if (!(err instanceof HelperUnavailableError))
      throw new MountError(`unmounting ${target} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  try {
    await run(UMOUNT, [...(opts.detach ? ["-l"] : []), "--", target]);
  } catch (err) {
    if (err instanceof ProgramError && /not mounted|no mount point specified/i.test(err.stderr)) return;
    throw new MountError(`unmounting ${target} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}
