import { run } from "./exec.ts";

/*
 * Device nodes and FIFOs through the `mknod` program (coreutils): Node has no mknod(2).
 * Used by layer unpacking for overlay whiteouts (char 0/0), device entries and FIFOs.
 */

const MKNOD = "mknod";

export type NodeKind = "char" | "block" | "fifo";

export async function mknod(path: string, kind: NodeKind, mode: number, major = 0, minor = 0): Promise<void> {
  const m = ["-m", (mode & 0o7777).toString(8).padStart(4, "0"), "--", path];
  if (kind === "fifo") {
    await run(MKNOD, [...m, "p"]);
    return;
  }
  await run(MKNOD, [...m, kind === "char" ? "c" : "b", String(major), String(minor)]);
}

/** An overlayfs whiteout: a character device with device number 0/0. */
export function mkWhiteout(path: string): Promise<void> {
  return mknod(path, "char", 0, 0, 0);
}
