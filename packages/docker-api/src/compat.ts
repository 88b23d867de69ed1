// What changed between the Engine API versions Berth accepts (1.24 to 1.47), in one place. A
// request is answered as dockerd answers that version: fields a newer version dropped are still
// sent to older clients, fields an older version ignored are ignored for it, and behaviour that
// changed (volume prune, multiple networks at create) follows the request's version. The rules
// follow moby's API changelog and its version checks in api/server/router.
import { badRequest } from "./errors.ts";
import { MULTIPLEXED_STREAM, RAW_STREAM } from "./streams.ts";
import { atLeast } from "./version.ts";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Logs, attach and exec without a TTY are multiplexed in every version; from 1.42 they also say
 * so in Content-Type. Before, dockerd labelled every stream raw, and clients go by the TTY alone.
 */
export function streamContentType(tty: boolean, version: string): string {
  return tty || !atLeast(version, "1.42") ? RAW_STREAM : MULTIPLEXED_STREAM;
}

/**
 * A create body as dockerd reads it for `version`, before Berth's own checks. Only fields that
 * dockerd ignores at that version are removed; what it refuses is refused.
 */
export function createBodyForVersion(body: unknown, version: string): unknown {
  if (!isObject(body)) return body; // refused as such by the config checks
  const out: Json = { ...body };
  const host = isObject(body.HostConfig) ? { ...body.HostConfig } : undefined;
  if (host) {
    // Removed in 1.42: dockerd ignores any value from then on (older versions may apply it; Berth cannot).
    if (atLeast(version, "1.42")) delete host.KernelMemory;
    // Added in 1.43; older clients' values are ignored.
    if (!atLeast(version, "1.43")) delete host.Annotations;
    out.HostConfig = host;
  }
  if (!atLeast(version, "1.44")) {
    // Added in 1.44.
    if (isObject(body.Healthcheck) && "StartInterval" in body.Healthcheck) {
      const { StartInterval: _ignored, ...health } = body.Healthcheck;
      out.Healthcheck = health;
    }
    const net = isObject(body.NetworkingConfig) ? body.NetworkingConfig : undefined;
    const endpoints = net && isObject(net.EndpointsConfig) ? net.EndpointsConfig : undefined;
    if (endpoints) {
      const names = Object.keys(endpoints);
      if (names.length > 1) throw badRequest(`Container cannot be created with multiple network endpoints: ${names.join(", ")}`);
      // Before 1.44 the MAC address was container-wide (Config.MacAddress): a per-endpoint one was ignored.
      const copy: Json = {};
      for (const [name, ep] of Object.entries(endpoints)) {
        if (isObject(ep) && "MacAddress" in ep) {
          const { MacAddress: _ignored, ...rest } = ep;
          copy[name] = rest;
        } else copy[name] = ep;
      }
      out.NetworkingConfig = { ...net, EndpointsConfig: copy };
    }
  }
  return out;
}

/** An update body (resources and restart policy) as dockerd reads it for `version`. */
export function updateBodyForVersion(body: Json, version: string): Json {
  const out: Json = { ...body };
  // PidsLimit is honoured from 1.40; KernelMemory is ignored from 1.42.
  if (!atLeast(version, "1.40")) delete out.PidsLimit;
  if (atLeast(version, "1.42")) delete out.KernelMemory;
  // The CLI sends an empty restart policy with every update; dockerd changes the policy only when one is named.
  if (isObject(out.RestartPolicy) && !out.RestartPolicy.Name) delete out.RestartPolicy;
  return out;
}

/** An image list row: VirtualSize until 1.44, and `<none>` placeholders for untagged images until 1.43. */
export function imageSummaryForVersion<T extends { Size: number; RepoTags: string[]; RepoDigests: string[] }>(
  img: T,
  version: string,
): T & { VirtualSize?: number } {
  let out: T & { VirtualSize?: number } = img;
  if (!atLeast(version, "1.43") && img.RepoTags.length === 0 && img.RepoDigests.length === 0) {
    out = { ...out, RepoTags: ["<none>:<none>"], RepoDigests: ["<none>@<none>"] };
  }
  if (!atLeast(version, "1.44")) out = { ...out, VirtualSize: img.Size };
  return out;
}

/** The empty container config dockerd reports as an image's ContainerConfig when no container built it. */
const EMPTY_CONTAINER_CONFIG = {
  Hostname: "",
  Domainname: "",
  User: "",
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: "",
  Volumes: null,
  WorkingDir: "",
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

/** Image inspect: VirtualSize and a zero Created until 1.44; Container and ContainerConfig until 1.45. */
export function imageInspectForVersion(img: Json, version: string): Json {
  const out: Json = { ...img };
  if (!atLeast(version, "1.44")) {
    out.VirtualSize = img.Size;
    if (!img.Created) out.Created = "0001-01-01T00:00:00Z";
  }
  if (!atLeast(version, "1.45")) {
    out.Container = "";
    out.ContainerConfig = EMPTY_CONTAINER_CONFIG;
  }
  return out;
}

/** Volume prune: before 1.42 it removed every unused volume; from 1.42 only anonymous ones unless `all`. */
export const pruneAllVolumesByDefault = (version: string) => !atLeast(version, "1.42");

/** `system df` parts asked for with `type` (1.42 and up); before, and without `type`, all of them. */
export function diskUsageTypes(requested: string[], version: string): Set<"container" | "image" | "volume" | "build-cache"> {
  const all = ["container", "image", "volume", "build-cache"] as const;
  if (!atLeast(version, "1.42") || requested.length === 0) return new Set(all);
  const out = new Set<(typeof all)[number]>();
  for (const t of requested) {
    if (!(all as readonly string[]).includes(t)) throw badRequest(`unknown object type: ${t}`);
    out.add(t as (typeof all)[number]);
  }
  return out;
}
