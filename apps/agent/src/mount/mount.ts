import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { run, ProgramError } from "./exec.ts";

/*
 * mount(8)/umount(8) through execFile with argument arrays. A Mount is the description the
 * snapshotter hands out (containerd's shape); mountAll performs a list of them on one target.
 */

const MOUNT = "/bin/mount";
const UMOUNT = "/bin/umount";

export interface Mount {
  type: "overlay" | "bind";
  source: string;
  options: string[];
}

export class MountError extends Error {
  override name = "MountError";
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
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
 * relative to their common parent and run mount from there (the kernel resolves them against
 * the caller's working directory).
 */
function overlayCall(m: Mount, target: string): { args: string[]; cwd?: string } {
  const opts = optionString(m);
  const args = (o: string) => ["-t", "overlay", "-o", o, "--", m.source || "overlay", target];
  if (Buffer.byteLength(opts) <= MAX_OPTIONS) return { args: args(opts) };
  const split = m.options.map((o) => {
    const eq = o.indexOf("=");
    const key = eq > 0 ? o.slice(0, eq) : o;
    return { key, dirs: PATH_OPTIONS.includes(key) ? o.slice(eq + 1).split(":") : undefined, raw: o };
  });
  const all = split.flatMap((o) => o.dirs ?? []);
  if (all.some((d) => !isAbsolute(d))) throw new MountError("overlay options too long and not made of absolute paths");
  const cwd = commonDir(all);
  const short = split.map((o) => (o.dirs ? `${o.key}=${o.dirs.map((d) => relative(cwd, d) || ".").join(":")}` : o.raw)).join(",");
  if (Buffer.byteLength(short) > MAX_OPTIONS) throw new MountError(`overlay mount options are ${Buffer.byteLength(short)} bytes even with relative paths; too many layers`);
  return { args: args(short), cwd };
}

function bindArgs(m: Mount, target: string): string[] {
  // Bind mounts: util-linux applies "ro" with a follow-up remount, so "-o rbind,ro" is enough.
  const opts = m.options.filter((o) => o !== "bind" && o !== "rbind");
  const recursive = m.options.includes("rbind");
  return ["-o", [recursive ? "rbind" : "bind", ...opts].join(","), "--", m.source, target];
}

/** Performs the mounts in order on `target`; if one fails, the ones already done are undone. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    const abs = resolve(target);
    for (const m of mounts) {
      if (m.type === "overlay") {
        const call = overlayCall(m, abs);
        await run(MOUNT, call.args, call.cwd ? { cwd: call.cwd } : {});
      } else {
        optionString(m);
        await run(MOUNT, bindArgs(m, abs));
      }
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmount(target).catch(() => undefined);
    if (err instanceof MountError) throw err;
    throw new MountError(`mounting on ${target} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/**
 * Unmounts `target`. `detach` uses a lazy unmount (umount -l) for busy mounts.
 * A target that is not mounted is not an error, so cleanup paths can call this unconditionally.
 */
export async function unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
  try {
    await run(UMOUNT, [...(opts.detach ? ["-l"] : []), "--", target]);
  } catch (err) {
    if (err instanceof ProgramError && /not mounted|no mount point specified/i.test(err.stderr)) return;
    throw new MountError(`unmounting ${target} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}
