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

const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** The mount a path lives on and its propagation (shared, slave, or private), from the kernel's table. */
export function mountOf(path: string): { mountPoint: string; shared: boolean; slave: boolean } {
  let best = { mountPoint: "/", shared: false, slave: false };
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f.length < 7) continue;
    const point = unescapeOctal(f[4]!);
    const within = path === point || point === "/" || path.startsWith(`${point}/`);
    // The last match of the longest mount point is the one on top.
    if (!within || point.length < best.mountPoint.length) continue;
    const optional = f.slice(6, f.indexOf("-"));
    best = {
      mountPoint: point,
      shared: optional.some((o) => o.startsWith("shared:")),
      slave: optional.some((o) => o.startsWith("master:")),
    };
  }
  return best;
}
