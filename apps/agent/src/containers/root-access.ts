// Reaching into a container's filesystem from the host (`docker cp`), safely: a running
// container through /proc/PID/root (its own mount namespace, volumes included), a stopped one
// through a temporary mount of its snapshot. Paths inside it go through root-path.ts, so that no
// symlink inside the container can lead outside its root.
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
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
