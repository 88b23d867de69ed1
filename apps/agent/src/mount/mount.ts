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

function argsFor(m: Mount, target: string): string[] {
  if (m.type === "overlay") {
    return ["-t", "overlay", "-o", optionString(m), "--", m.source || "overlay", target];
  }
  // Bind mounts: util-linux applies "ro" with a follow-up remount, so "-o rbind,ro" is enough.
  const opts = m.options.filter((o) => o !== "bind" && o !== "rbind");
  const recursive = m.options.includes("rbind");
  return ["-o", [recursive ? "rbind" : "bind", ...opts].join(","), "--", m.source, target];
}

/** Performs the mounts in order on `target`; if one fails, the ones already done are undone. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      if (m.type === "bind") optionString(m);
      await run(MOUNT, argsFor(m, target));
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
