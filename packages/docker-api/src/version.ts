/** The newest Engine API version Berth speaks; clients negotiate down to it (docker CLI v28 does). */
export const API_VERSION = "1.47";
/** The oldest it accepts: the range SDKs in common use still send. */
export const MIN_API_VERSION = "1.24";

export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}

/** True when the request speaks at least `v`. */
export const atLeast = (requested: string, v: string) => compareVersions(requested, v) >= 0;
