import { badRequest } from "./errors.ts";

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

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

/**
 * A request's path without its /vX.Y prefix, and the API version that prefix names (the newest
 * when there is none). A version outside MIN_API_VERSION..API_VERSION is refused with dockerd's message.
 */
export function versionedPath(rawUrl: string | undefined): { url: URL; path: string; version: string } {
  const url = new URL(rawUrl ?? "/", "http://docker");
  let path = url.pathname.replace(/\/{2,}/g, "/");
  let version = API_VERSION;
  const m = VERSION_PREFIX.exec(path);
  if (m) {
    version = m[1]!;
    path = m[2]!;
    if (compareVersions(version, API_VERSION) > 0)
      throw badRequest(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    if (compareVersions(version, MIN_API_VERSION) < 0)
      throw badRequest(
        `client version ${version} is too old. ` +
          `Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
      );
  }
  return { url, path, version };
}
