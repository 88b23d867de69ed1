// The body of POST /containers/create as Docker clients send it, turned into Berth's container
// config. Clients send every field Docker knows, mostly at zero values; a field Berth does not
// implement is accepted only at its zero value, so a setting is never silently dropped. As
// dockerd's JSON decoding does, keys match case-insensitively and names Docker does not know at
// all are ignored (docker-py and compose send a few), and null means unset.
import { ContainerConfigSchema, HostConfigSchema } from "@berth/protocol";
import type { z } from "zod";
import { badRequest } from "./errors.ts";

type Json = Record<string, unknown>;

/** Docker's fields that Berth has no implementation for (swagger ContainerConfig/HostConfig/EndpointSettings, plus older names). */
const CONFIG_UNSUPPORTED = ["ArgsEscaped", "NetworkDisabled", "OnBuild", "Shell"];
export const HOST_UNSUPPORTED = [
  "CgroupParent",
  "BlkioWeight",
  "BlkioWeightDevice",
  "BlkioDeviceReadBps",
  "BlkioDeviceWriteBps",
  "BlkioDeviceReadIOps",
  "BlkioDeviceWriteIOps",
  "DeviceRequests",
  "CpuCount",
  "CpuPercent",
  "IOMaximumIOps",
  "IOMaximumBandwidth",
  "ContainerIDFile",
  "Annotations",
  "Cgroup",
  "StorageOpt",
  "UsernsMode",
  "MaskedPaths",
  "ReadonlyPaths",
  "KernelMemory",
  "KernelMemoryTCP",
];
/** Accepted and not needed: the CLI sends the terminal size again with a resize after start. */
const HOST_IGNORED = ["ConsoleSize"];
export const ENDPOINT_SUPPORTED = ["IPAMConfig", "Aliases", "Links", "MacAddress", "DriverOpts"];
export const ENDPOINT_UNSUPPORTED = ["GwPriority"];
/** Operational data the daemon fills in; dockerd drops them from a request (clients that replay an inspect send them). */
const ENDPOINT_IGNORED = [
  "NetworkID",
  "EndpointID",
  "Gateway",
  "IPAddress",
  "IPPrefixLen",
  "IPv6Gateway",
  "GlobalIPv6Address",
  "GlobalIPv6PrefixLen",
  "DNSNames",
];
const IPAM_SUPPORTED = ["IPv4Address", "IPv6Address", "LinkLocalIPs"];

/**
 * One network's endpoint settings (a create body's EndpointsConfig entry, or connect's
 * EndpointConfig) as Docker's decoding reads them: keys in any case, null as unset, the
 * daemon's own operational fields dropped. Their shape is checked by the protocol's schema.
 */
export function endpointFromDocker(raw: unknown, where: string): Json {
  const ep = withoutNulls(vet(isObject(raw) ? raw : {}, where, ENDPOINT_SUPPORTED, ENDPOINT_UNSUPPORTED, ENDPOINT_IGNORED));
  if (isObject(ep.IPAMConfig)) ep.IPAMConfig = withoutNulls(vet(ep.IPAMConfig, `${where}IPAMConfig.`, IPAM_SUPPORTED, []));
  return ep;
}

/** Values that mean "daemon default" in Docker's API for the unsupported fields. */
const DEFAULT_VALUES: Record<string, unknown[]> = {
  // A network's scope: local is what a bridge network is (swarm's global and swarm scopes are not).
  Scope: ["local"],
};

function isZero(v: unknown): boolean {
  if (v === null || v === undefined || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.values(v as Json).every(isZero);
  return false;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The canonical spelling of `key` among `names`, matched as Go's encoding/json matches: exact first, then ignoring case. */
function canonical(key: string, names: readonly string[]): string | undefined {
  if (names.includes(key)) return key;
  const lower = key.toLowerCase();
  return names.find((n) => n.toLowerCase() === lower);
}

/**
 * Keeps the supported keys of `obj` under their canonical names; zero-valued unsupported ones are
 * dropped and others refused; keys Docker does not have are ignored, as dockerd ignores them.
 */
export function vet(
  obj: Json,
  where: string,
  supported: readonly string[],
  unsupported: readonly string[],
  ignored: readonly string[] = [],
): Json {
  const out: Json = {};
  for (const [key, v] of Object.entries(obj)) {
    const known = canonical(key, supported);
    if (known) {
      out[known] = v;
      continue;
    }
    if (canonical(key, ignored)) continue;
    const refused = canonical(key, unsupported);
    if (refused && !isZero(v) && !DEFAULT_VALUES[refused]?.includes(v))
      throw badRequest(`${where}${refused} is not supported by Berth (got ${JSON.stringify(v)})`);
    // Otherwise: unsupported at its zero value, or not a Docker field at all.
  }
  return out;
}

/**
 * A request body's keys as Go's encoding/json would bind them to a struct with fields `names`:
 * matched case-insensitively, unknown ones and nulls dropped. Anything but an object passes as is.
 */
export function dockerJsonKeys(raw: unknown, names: readonly string[]): unknown {
  if (!isObject(raw)) return raw;
  const out: Json = {};
  for (const [key, v] of Object.entries(raw)) {
    const known = canonical(key, names);
    if (known && v !== null) out[known] = v;
  }
  return out;
}

/** A copy of `obj` without its null-valued keys: Docker's API reads null as "not set". */
function withoutNulls(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));
}

/** Docker's StrSlice: a command may come as a string (one element) or a list. */
function strSlice(v: unknown): unknown {
  if (typeof v === "string") return v === "" ? [] : [v];
  return v;
}

const CONFIG_SUPPORTED = Object.keys(ContainerConfigSchema.shape).filter((k) => k !== "HostConfig" && k !== "NetworkingConfig");
const HOST_SUPPORTED = Object.keys(HostConfigSchema.shape);

/**
 * Validates and translates a create body. `bridgeDefault` is the network a container gets when
 * the client says "default" (the bridge with networking on, else none).
 */
export function containerConfigFromDocker(body: unknown, bridgeDefault: "bridge" | "none"): z.input<typeof ContainerConfigSchema> {
  if (!isObject(body)) throw badRequest("the container configuration must be a JSON object");
  const { HostConfig: rawHost, NetworkingConfig: rawNet, ...rest } = body;
  const config = vet(rest, "", CONFIG_SUPPORTED, CONFIG_UNSUPPORTED);
  if ("Cmd" in config) config.Cmd = strSlice(config.Cmd);
  // docker-py and compose send every health check field, null when not set (StartPeriod, Timeout, ...).
  if (isObject(config.Healthcheck)) config.Healthcheck = withoutNulls(config.Healthcheck);
  if ("Entrypoint" in config) config.Entrypoint = strSlice(config.Entrypoint);
  if (rawHost !== undefined && rawHost !== null && !isObject(rawHost)) throw badRequest("HostConfig must be an object");
  const host = vet(rawHost ?? {}, "HostConfig.", HOST_SUPPORTED, HOST_UNSUPPORTED, HOST_IGNORED);
  if (host.NetworkMode === "default" || host.NetworkMode === "") delete host.NetworkMode;
  const mode = (host.NetworkMode as string | undefined) ?? bridgeDefault;

  let networking: Json | undefined;
  if (rawNet !== undefined && rawNet !== null) {
    if (!isObject(rawNet)) throw badRequest("NetworkingConfig must be an object");
    const net = vet(rawNet, "NetworkingConfig.", ["EndpointsConfig"], []);
    const endpoints: Json = {};
    if (net.EndpointsConfig !== undefined && net.EndpointsConfig !== null) {
      if (!isObject(net.EndpointsConfig)) throw badRequest("NetworkingConfig.EndpointsConfig must be an object");
      for (const [name, raw] of Object.entries(net.EndpointsConfig)) {
        const ep = endpointFromDocker(raw, `NetworkingConfig.EndpointsConfig.${name}.`);
        // "default" names the network the container gets anyway; with no networking there is nothing to configure.
        const key = name === "default" ? mode : name;
        if (key === "none" && isZero(ep)) continue;
        endpoints[key] = ep;
      }
    }
    networking = { EndpointsConfig: endpoints };
  }
  return { ...(config as object), HostConfig: host, ...(networking ? { NetworkingConfig: networking } : {}) } as z.input<
    typeof ContainerConfigSchema
  >;
}
