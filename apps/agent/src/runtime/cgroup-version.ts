import { existsSync } from "node:fs";

let v2: boolean | undefined;

/** Is the host's cgroup hierarchy the unified one (v2)? Some settings (swappiness) exist only in v1. */
export function cgroupV2(): boolean {
  v2 ??= existsSync("/sys/fs/cgroup/cgroup.controllers");
  return v2;
}
