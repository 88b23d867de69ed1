import type { Logger } from "./logger.ts";

/**
 * Logs a periodic job's failures without flooding: the first failure with its error, then at most
 * one line a minute while it keeps failing (with how many were left out), and one line when it
 * works again. A database outage otherwise writes a stack trace per job per second.
 */
export function failureLog(log: Logger, what: string, everyMs = 60_000) {
  let failing = false;
  let lastAt = 0;
  let quiet = 0;
  return {
    failed(err: unknown): void {
      const now = Date.now();
      if (!failing || now - lastAt >= everyMs) {
        log.error({ err, ...(quiet ? { repeats: quiet } : {}) }, `${what} failed`);
        lastAt = now;
        quiet = 0;
      } else quiet++;
      failing = true;
    },
    ok(): void {
      if (!failing) return;
      failing = false;
      quiet = 0;
      log.info(`${what} works again`);
    },
  };
}

/** Runs `fn` as a timer job whose failures go through a failureLog. */
export function guardedJob(log: Logger, what: string, fn: () => Promise<unknown>): () => void {
  const f = failureLog(log, what);
  return () => {
    fn().then(
      () => f.ok(),
      (err: unknown) => f.failed(err),
    );
  };
}
