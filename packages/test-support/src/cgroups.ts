// Cgroups a test's containers leave behind: they outlive the runtime that made them, by design.
import { readdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";

/** Removes a test's cgroup parent, and any empty container cgroups left in it, from every hierarchy. */
export function removeCgroupParent(parent: string): void {
  for (const root of ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((d) => join("/sys/fs/cgroup", d))]) {
    const dir = join(root, parent);
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(dir, e.name));
      rmdirSync(dir);
    } catch {
      // not in this hierarchy, already gone, or still in use
    }
  }
}
