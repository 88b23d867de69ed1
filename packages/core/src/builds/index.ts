/** Image builds run on hosts from git or uploaded files: the runner, the history and logs, and the request schema. */
export { BuildRunner, type Actor, type BuildOrigin, type BuildOutcome, type BuildRunnerOptions } from "./runner.ts";
export { buildLogPieces, getBuild, listBuilds, type BuildView } from "./store.ts";
export {
  BuildRequestSchema,
  BuildSourceSchema,
  MAX_BUILD_LOG_BYTES,
  MAX_UPLOAD_BYTES,
  type BuildRequest,
  type BuildRequestInput,
  type BuildSource,
  type BuildStatus,
} from "./schema.ts";
