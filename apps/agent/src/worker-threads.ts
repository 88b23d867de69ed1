import { Worker } from "node:worker_threads";

/** Set by the esbuild bundle (scripts/build.ts): the agent runs as one CommonJS file. */
declare const __BERTH_AGENT_BUNDLE__: boolean | undefined;

/** The agent's worker threads; cli.ts serves the role it finds in workerData when the bundle starts one. */
export const WORKER_ROLES = { extract: "berth-layer-extract", logKeeper: "berth-log-keeper" } as const;
export type WorkerRole = (typeof WORKER_ROLES)[keyof typeof WORKER_ROLES];

/**
 * Starts one of the agent's worker threads. The single-file bundle starts workers from itself;
 * from TypeScript sources (tests, benchmarks) `entry()` is the worker's module, loaded after tsx is
 * registered in the worker (a worker's entry is loaded before `--import tsx` takes effect there).
 */
export function startAgentWorker(role: WorkerRole, entry: () => URL): Worker {
  if (typeof __BERTH_AGENT_BUNDLE__ !== "undefined") return new Worker(__filename, { workerData: { role } });
  // Only reached from sources: the bundle has no import.meta.
  const tsx = import.meta.resolve("tsx/esm/api");
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry().href)}); })`, {
    eval: true,
  });
}
