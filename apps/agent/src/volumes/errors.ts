import { AgentError } from "../errors.ts";

/** Volume errors, mapped to API errors at the edge (NOT_FOUND → 404, CONFLICT → 409, INVALID → 400). */
export class VolumeError extends AgentError {
  override name = "VolumeError";
}

export const noSuchVolume = (name: string) => new VolumeError(`get ${name}: no such volume`, "NOT_FOUND");
