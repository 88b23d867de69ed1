// Links (`--link name:alias`, HostConfig.Links, and per network with `network connect --link`).
// On the default bridge they are dockerd's legacy links: the linked container by its alias, its
// hostname and its name in this container's /etc/hosts, and its address, ports and environment as
// ALIAS_* variables; the target must be running at each start. On user-defined networks the
// embedded DNS answers the alias for the linking container only (see resolutionOf). Checked at
// create: the target must exist.
import { ContainerError } from "./errors.ts";
import { isRunning, type ContainerRecord } from "./record.ts";

export interface Link {
  /** The linked container, as given. */
  target: string;
  alias: string;
}

export function parseLinks(links: readonly string[]): Link[] {
  return links.map((raw) => {
    const [target = "", alias] = raw.split(":", 2) as [string, string?];
    const clean = target.replace(/^\//, "");
    const name = (alias ?? clean).replace(/^.*\//, "");
    if (!clean || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new ContainerError(`invalid link: ${raw}`, "INVALID");
    return { target: clean, alias: name };
  });
}

/** At create: every linked container exists and has a network to be reached on. */
export function checkLinks(links: readonly string[], find: (ref: string) => ContainerRecord): void {
  for (const link of parseLinks(links)) {
    let target: ContainerRecord;
    try {
      target = find(link.target);
    } catch (e) {
      // dockerd answers a link to nothing as bad input, not as a missing image or container.
      throw new ContainerError(`could not get container for ${link.target}: ${(e as Error).message}`, "INVALID");
    }
    if (target.config.HostConfig.NetworkMode === "host") {
      throw new ContainerError(
        "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        "INVALID",
      );
    }
  }
}

/** Docker's inspect form of a container's links: `/target:/container/alias`. */
export function inspectLinks(rec: ContainerRecord, find: (ref: string) => ContainerRecord | undefined): string[] | null {
  const links = rec.config.HostConfig.Links ?? [];
  if (!links.length) return null;
  return parseLinks(links).map((l) => `/${find(l.target)?.name ?? l.target}:/${rec.name}/${l.alias}`);
}

export interface LinkEntries {
  hosts: Array<{ ip: string; names: string }>;
  env: string[];
}

/**
 * What a starting container's legacy links (on the default bridge) give it: each linked container
 * must be running; `addressOf` is its address on a network both share (or its first).
 */
export function linkEntries(
  rec: ContainerRecord,
  find: (ref: string) => ContainerRecord,
  addressOf: (target: ContainerRecord) => string | null,
): LinkEntries {
  const out: LinkEntries = { hosts: [], env: [] };
  for (const link of parseLinks(allLinks(rec))) {
    const target = find(link.target);
    const ip = isRunning(target) ? addressOf(target) : null;
    if (!ip) throw new ContainerError(`Cannot link to a non running container: /${target.name} AS /${rec.name}/${link.alias}`, "INVALID");
    const names = [link.alias, target.hostname, ...(link.alias !== target.name ? [target.name] : [])];
    out.hosts.push({ ip, names: [...new Set(names)].join(" ") });
    out.env.push(...linkEnv(rec, target, link.alias, ip));
  }
  return out;
}

/** A container's links: HostConfig.Links and those asked for per network. */
export function allLinks(rec: ContainerRecord): string[] {
  return [...(rec.config.HostConfig.Links ?? []), ...endpointLinks(rec)];
}

/** Links asked for per network (`docker network connect --link`, EndpointsConfig.Links). */
function endpointLinks(rec: ContainerRecord): string[] {
  return Object.values(rec.networks ?? {}).flatMap((req) => req.Links ?? []);
}

function linkEnv(rec: ContainerRecord, target: ContainerRecord, alias: string, ip: string): string[] {
  const prefix = alias.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  const env = [`${prefix}_NAME=/${rec.name}/${alias}`];
  const ports = [...(target.exposedPorts ?? [])].sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  const first = ports[0];
  if (first) {
    const [port, proto = "tcp"] = first.split("/");
    env.push(`${prefix}_PORT=${proto}://${ip}:${port}`);
  }
  for (const p of ports) {
    const [port, proto = "tcp"] = p.split("/") as [string, string?];
    const key = `${prefix}_PORT_${port}_${proto.toUpperCase()}`;
    env.push(`${key}=${proto}://${ip}:${port}`, `${key}_ADDR=${ip}`, `${key}_PORT=${port}`, `${key}_PROTO=${proto}`);
  }
  // dockerd passes the linked container's environment on, except what every image has.
  for (const e of target.env) {
    const eq = e.indexOf("=");
    const key = eq > 0 ? e.slice(0, eq) : "";
    if (!key || key === "HOME" || key === "PATH") continue;
    env.push(`${prefix}_ENV_${key}=${e.slice(eq + 1)}`);
  }
  return env;
}
