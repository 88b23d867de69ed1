import { lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * Resolves `path` inside the directory `root` as the container would see it: symlinks are
 * followed with `root` as `/`, so a link in an image (`/data -> /etc`, or `../../..`) can never
 * lead outside it. Returns the host path, which may not exist; null after too many links.
 * Without `followLast`, a link in the last component is the result itself (as `docker cp` copies a link).
 */
export function resolveInRoot(root: string, path: string, opts: { followLast?: boolean } = {}): string | null {
  let pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // Missing: the rest is taken as written.
    }
    if (!isLink || (pending.length === 0 && opts.followLast === false)) {
      done.push(part);
      continue;
    }
    if (++links > 40) return null;
    const target = readlinkSync(host);
    const parts = target.split("/").filter((p) => p !== "" && p !== ".");
    if (target.startsWith("/")) done.length = 0;
    pending = [...parts, ...pending];
  }
  return join(root, ...done);
}
