import { readFileSync } from "node:fs";

/** The agent's own hard limit on open files (at most 2^20): containers get it by default; 1024 when unreadable. */
export function nofileHardLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard && /^\d+$/.test(hard)) return Math.min(Number(hard), 1_048_576);
  } catch {
    // fall through
  }
  return 1024;
}
