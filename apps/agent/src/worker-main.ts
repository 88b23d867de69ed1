import { isMainThread, workerData } from "node:worker_threads";
import { serveExtractJobs } from "./images/index.ts";
import { serveLogKeeping } from "./logs/index.ts";
import { WORKER_ROLES } from "./worker-threads.ts";

/**
 * In a bundle its worker threads run the bundle itself: this serves the role the thread was
 * started for. True when this thread is such a worker (the caller then runs nothing else).
 */
export function serveAgentWorker(): boolean {
  const role = isMainThread ? undefined : (workerData as { role?: unknown } | null)?.role;
  if (role === WORKER_ROLES.extract) serveExtractJobs();
  else if (role === WORKER_ROLES.logKeeper) serveLogKeeping();
  else return false;
  return true;
}
