import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";

/*
 * `docker top` without ps(1): the container's processes read from /proc, in `ps -ef` columns.
 */

const CLOCK_TICKS = 100;

function hostUserNames(): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length > 2 && /^\d+$/.test(f[2]!)) m.set(Number(f[2]), f[0]!);
    }
  } catch {
    // numeric UIDs then
  }
  return m;
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

export async function topProcesses(pids: number[]): Promise<{ Titles: string[]; Processes: string[][] }> {
  const names = hostUserNames();
  const uptime = Number((await readFile("/proc/uptime", "utf8")).split(" ")[0]);
  const bootMs = Date.now() - uptime * 1000;
  const rows: string[][] = [];
  for (const pid of pids) {
    try {
      const [stat, status, cmdline] = await Promise.all([
        readFile(`/proc/${pid}/stat`, "utf8"),
        readFile(`/proc/${pid}/status`, "utf8"),
        readFile(`/proc/${pid}/cmdline`, "utf8"),
      ]);
      const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = after[1]!;
      const cpuSeconds = (Number(after[11]) + Number(after[12])) / CLOCK_TICKS;
      const started = new Date(bootMs + (Number(after[19]) / CLOCK_TICKS) * 1000);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const cmd = cmdline.split("\0").filter(Boolean).join(" ") || `[${comm}]`;
      const stime = `${String(started.getHours()).padStart(2, "0")}:${String(started.getMinutes()).padStart(2, "0")}`;
      rows.push([names.get(uid) ?? String(uid), String(pid), ppid, "0", stime, "?", clock(cpuSeconds), cmd]);
    } catch {
      // the process exited while we read it
    }
  }
  return { Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], Processes: rows };
}
