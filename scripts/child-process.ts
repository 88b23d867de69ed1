// Stopping child processes. A child killed by a signal has a null exitCode (its signalCode is set),
// so "exitCode === null" alone waits forever for an exit that already happened.
import type { ChildProcess } from "node:child_process";

export function hasExited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

/** Resolves once `p` has exited (at once if it already has). */
export function exitOf(p: ChildProcess): Promise<void> {
  return hasExited(p) ? Promise.resolve() : new Promise((resolve) => p.once("exit", () => resolve()));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(p: ChildProcess, graceMs = 10_000): Promise<void> {
  if (hasExited(p)) return;
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), graceMs);
  await exitOf(p);
  clearTimeout(timer);
}
