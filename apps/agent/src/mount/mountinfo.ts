import { readFileSync } from "node:fs";

/** Whether `path` is a mount point, from the kernel's table (cheaper than running umount to find out). */
export function isMountPoint(path: string): boolean {
  try {
    const escaped = path.replace(/\\/g, "\\134").replace(/ /g, "\\040").replace(/\t/g, "\\011").replace(/\n/g, "\\012");
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4] === escaped);
  } catch {
    return true;
  }
}
