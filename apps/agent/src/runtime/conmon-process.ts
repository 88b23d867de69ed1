// What the agent learns about a container's conmon from the host: its PID file and its /proc entry.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** A PID file another process writes; waits briefly for it (0 when it never shows up). */
export async function readPidFile(path: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    try {
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0) return pid;
    } catch {
      // not written yet
    }
    await sleep(20);
  }
  return 0;
}

/** Whether `pid` is a live conmon (a zombie left by a kill is not). */
export function isConmon(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ...": comm may contain spaces, so read around the last parenthesis.
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return comm === "conmon" && state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
