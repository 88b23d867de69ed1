import { AgentError } from "../errors.ts";

/** A container setting the runtime cannot turn into a valid OCI spec (the client's mistake). */
export class SpecError extends AgentError {
  override name = "SpecError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "INVALID", options);
  }
}
