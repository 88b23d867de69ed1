import { closeSync, fsyncSync, openSync, renameSync, writeSync, mkdirSync } from "node:fs";
import { dirname, join, basename } from "node:path";

/**
 * Writes a file so that a crash leaves either the old or the new content, never a torn one:
 * write a temp file, fsync it, rename over the target, fsync the directory.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
