/** Volume errors, mapped to API errors at the edge (NOT_FOUND → 404, CONFLICT → 409, INVALID → 400). */
export class VolumeError extends Error {
  override name = "VolumeError";
  constructor(
    message: string,
    readonly code: "NOT_FOUND" | "CONFLICT" | "INVALID",
  ) {
    super(message);
  }
}

export const noSuchVolume = (name: string) => new VolumeError(`get ${name}: no such volume`, "NOT_FOUND");
