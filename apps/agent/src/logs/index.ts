/** The log layer's front door: k8s-file logs read and followed, kept and rotated. */
export { readLogBatches, readLogs } from "./k8s-file.ts";
export type { LogEntry, ReadLogsOptions } from "./k8s-file.ts";
export { serveLogKeeping } from "./keeper-worker.ts";
export { LogKeepers } from "./log-keepers.ts";
export { LogConfigError, logRotationOf } from "./rotation.ts";
