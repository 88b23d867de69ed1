// Taking down what is left of a container's run: its state in the OCI runtime and its rootfs mount.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isMountPoint } from "../mount/index.ts";
import { unmount } from "../mount/index.ts";
import type { Runc } from "../runtime/index.ts";

/** `runc delete --force`, skipped when the runtime holds no state for the container (each call is a process). */
export async function deleteFromRuntime(runc: Runc, id: string): Promise<void> {
  if (!existsSync(join(runc.root, id))) return;
  await runc.delete(id, true).catch(() => undefined);
}

/** Removes an exited container from the runtime, in-process when the runtime's state allows it. */
export async function deleteExited(runc: Runc, id: string): Promise<void> {
  if (!existsSync(join(runc.root, id))) return;
  if (runc.deleteStopped(id)) return;
  await runc.delete(id, true).catch(() => undefined);
}

/** Unmounts a container's rootfs if it is mounted (lazily when it is busy). */
export async function unmountRootfs(rootfs: string): Promise<void> {
  if (!isMountPoint(rootfs)) return;
  await unmount(rootfs).catch(() => unmount(rootfs, { detach: true }));
}
