import { AgentError } from "../errors.ts";

/** Container-layer errors; the command table and the Docker API map the code at their edge. */
export class ContainerError extends AgentError {
  override name = "ContainerError";
}

export const noSuchContainer = (ref: string) => new ContainerError(`No such container: ${ref}`, "NOT_FOUND");
export const notRunning = (id: string) => new ContainerError(`Container ${id} is not running`, "CONFLICT");
