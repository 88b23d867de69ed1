import type { Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { AgentRuntime } from "../runtime.ts";

/** Bytes under a directory (files' sizes, symlinks not followed); 0 for what cannot be read. */
export async function directorySize(dir: string | Promise<string>): Promise<number> {
  let root: string;
  try {
    root = await dir;
  } catch {
    return 0;
  }
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else
        total += await lstat(p).then(
          (s) => s.size,
          () => 0,
        );
    }
  };
  await walk(root);
  return total;
}

/**
 * A container's sizes as dockerd reports them: its writable layer, and everything it sees (the
 * image's layers plus that), which `ps -s` shows as "(virtual …)".
 */
export async function containerSizes(rt: AgentRuntime, id: string, imageId: string): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const rw = await directorySize(rt.containers.upperDir(id));
  let image = 0;
  try {
    image = rt.images.resolve(imageId).size;
  } catch {
    // the image was removed (forced) while the container kept its layers: only what is known
  }
  return { SizeRw: rw, SizeRootFs: rw + image };
}
