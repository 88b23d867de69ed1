// One error model for every agent layer. A layer throws an AgentError (or a subclass of its own)
// with a code that says what kind of failure it is; only the edges translate codes: the command
// table into the link's reply codes, the Docker API into HTTP statuses. Nothing matches on names.
import type { AgentErrorCode } from "@berth/protocol";

/** The kinds of failure a layer reports: the link's reply codes, less the link's own UNKNOWN_COMMAND. */
export type ErrorCode = Exclude<AgentErrorCode, "UNKNOWN_COMMAND">;

export class AgentError extends Error {
  override name = "AgentError";
  constructor(
    message: string,
    readonly code: ErrorCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The code of any thrown value: FAILED for everything that is not an AgentError. */
export function errorCode(e: unknown): ErrorCode {
  return e instanceof AgentError ? e.code : "FAILED";
}
