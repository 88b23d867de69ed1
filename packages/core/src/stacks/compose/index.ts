export {
  type ComposeProblem,
  type ComposeProject,
  type ComposeSource,
  ComposeError,
  formatProblem,
  type LoadOptions,
  loadCompose,
} from "./load.ts";
export { type ComposeFile, ComposeFileSchema, type ComposeService } from "./schema.ts";
export { InterpolationError, interpolate } from "./interpolate.ts";
export { parseEnvFile } from "./env-file.ts";
