import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

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
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += await lstat(p).then((s) => s.size, () => 0);
    }
  };
  await walk(root);
  return total;
}
