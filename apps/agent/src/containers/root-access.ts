// Reaching into a container's filesystem from the host (`docker cp`), safely: a running
// container through /proc/PID/root (its own mount namespace, volumes included), a stopped one
// through a temporary mount of its snapshot; paths resolved component by component so that no
// symlink inside the container can lead outside its root.
import { mkdirSync } from "node:fs";
import { lstat, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { mountAll, unmount, type Snapshotter } from "../snapshots/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerService } from "./service.ts";

/** Runs `fn` with a host path that is the container's root; the mount lasts until `fn` settles. */
export async function withContainerRoot<T>(deps: { containers: ContainerService; snapshots: Snapshotter }, ref: string, fn: (root: string) => Promise<T>): Promise<T> {
  const rec = deps.containers.get(ref);
  if (deps.containers.isRunning(rec) && rec.state.Pid > 0) return fn(`/proc/${rec.state.Pid}/root`);
  const dir = join(deps.containers.store.dir(rec.id), `access-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  try {
    await mountAll(await deps.snapshots.mounts(`container-${rec.id}`), dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new ContainerError(`cannot mount the filesystem of container ${rec.id}: ${(e as Error).message}`, "FAILED");
  }
  try {
    return await fn(dir);
  } finally {
    await unmount(dir).catch(() => unmount(dir, { detach: true }).catch(() => undefined));
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The host path of `path` inside `root`, resolving symlinks as the container would see them:
 * absolute targets start again at the container's root and `..` stops there. The last component
 * is followed only with `followLast` (as `docker cp` copies a link itself unless told otherwise).
 */
export async function resolveInRoot(root: string, path: string, followLast: boolean): Promise<string> {
  const parts = path.split("/").filter((p) => p && p !== ".");
  const stack: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      stack.pop();
      continue;
    }
    const candidate = join(root, ...stack, part);
    const last = parts.length === 0;
    const st = await lstat(candidate).catch(() => null);
    if (st?.isSymbolicLink() && (!last || followLast)) {
      if (++hops > 40) throw new ContainerError(`too many levels of symbolic links in ${path}`, "INVALID");
      const target = await readlink(candidate);
      if (target.startsWith("/")) stack.length = 0;
      parts.unshift(...target.split("/").filter((p) => p && p !== "."));
      continue;
    }
    stack.push(part);
  }
  return join(root, ...stack);
}
