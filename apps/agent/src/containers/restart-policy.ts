import type { HostConfig } from "@berth/protocol";

/** Whether a container that exited with `exitCode` restarts under its policy (Docker's rules). */
export function shouldRestart(host: HostConfig, exitCode: number, restartCount: number, manuallyStopped: boolean): boolean {
  if (manuallyStopped) return false;
  const p = host.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 };
  switch (p.Name) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return exitCode !== 0 && (p.MaximumRetryCount === 0 || restartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
/** A run this long resets the backoff, as in Docker. */
const STABLE_RUN_MS = 10_000;

/** Docker's restart backoff: 100 ms, doubling while runs stay short, at most a minute. */
export function nextRestartDelay(previousDelayMs: number, ranForMs: number): number {
  if (ranForMs >= STABLE_RUN_MS || previousDelayMs === 0) return FIRST_DELAY_MS;
  return Math.min(previousDelayMs * 2, MAX_DELAY_MS);
}
