import { AgentError } from "../errors.ts";

/** A build that cannot go on: a bad Dockerfile or context (INVALID), or a step that failed (FAILED). */
export class BuildError extends AgentError {
  override name = "BuildError";
}

/** A Dockerfile problem, named by its line (1-based) as Docker names it. */
export function dockerfileError(line: number, message: string): BuildError {
  return new BuildError(`Dockerfile parse error line ${line}: ${message}`, "INVALID");
}
