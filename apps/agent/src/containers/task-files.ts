// A service task's secrets and configs on its host, as Swarm's engine keeps them: files on a tmpfs
// of the container's own (never on disk, gone with the container or a reboot), each bind-mounted
// read-only at its target. The container's record names the targets only, never the contents.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TaskFile } from "@berth/protocol";
import { isMountPoint, mountAll, unmount } from "../mount/index.ts";
import type { OciMount } from "../runtime/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerPaths } from "./paths.ts";
import type { ContainerRecord } from "./record.ts";

/** One file on the container's tmpfs (`name`) and where the container sees it. */
export interface TaskFileMount {
  target: string;
  name: string;
}

function filesDir(paths: ContainerPaths, id: string): string {
  return join(paths.dir(id), "files");
}

/** Writes the files on a fresh tmpfs sized to hold them; returns what the record keeps. */
export async function writeTaskFiles(paths: ContainerPaths, id: string, files: readonly TaskFile[]): Promise<TaskFileMount[]> {
  if (!files.length) return [];
  const dir = filesDir(paths, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.data, "base64"), 0);
  // Each file takes at least a page; a margin for the directory itself.
  const size = Math.ceil((bytes + (files.length + 4) * 4096) / 4096) * 4096;
  await mountAll([{ type: "tmpfs", source: "berth-task-files", options: ["nosuid", "nodev", "noexec", "mode=0700", `size=${size}`] }], dir);
  try {
    return files.map((f, i) => {
      const name = `f${i}`;
      const path = join(dir, name);
      writeFileSync(path, Buffer.from(f.data, "base64"), { mode: 0o600 });
      chownSync(path, Number(f.uid), Number(f.gid));
      chmodSync(path, f.mode);
      return { target: f.target, name };
    });
  } catch (e) {
    await unmount(dir).catch(() => unmount(dir, { detach: true }));
    throw e;
  }
}

/** The bind mounts of a container's task files; refused when they are gone (the host restarted). */
export function taskFileMounts(paths: ContainerPaths, rec: ContainerRecord): OciMount[] {
  const files = rec.taskFiles ?? [];
  if (!files.length) return [];
  const dir = filesDir(paths, rec.id);
  if (!isMountPoint(dir)) {
    throw new ContainerError(
      `the secrets and configs of container ${rec.id} are gone (they are kept in memory only, and the host restarted); its service starts a new task`,
      "FAILED",
    );
  }
  return files.map((f) => ({
    destination: f.target,
    type: "bind",
    source: join(dir, f.name),
    options: ["rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"],
  }));
}

/** Unmounts a container's task files (at its removal). */
export async function releaseTaskFiles(paths: ContainerPaths, rec: ContainerRecord): Promise<void> {
  if (!rec.taskFiles?.length) return;
  const dir = filesDir(paths, rec.id);
  if (isMountPoint(dir)) await unmount(dir).catch(() => unmount(dir, { detach: true }));
}
