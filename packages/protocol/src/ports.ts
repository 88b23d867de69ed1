/*
 * Docker's `-p` syntax: `containerPort`, `hostPort:containerPort`, `ip:hostPort:containerPort`,
 * `ip::containerPort`, each with an optional `/tcp` or `/udp`, into HostConfig.PortBindings
 * and Config.ExposedPorts, with Docker's messages for bad ones.
 */

export class PortSpecError extends Error {
  override name = "PortSpecError";
}

export interface PortSpec {
  /** "80/tcp" */
  key: string;
  binding: { HostIp: string; HostPort: string };
}

const port = (s: string, what: string) => {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new PortSpecError(`Invalid ${what}: ${s}`);
  return String(Number(s));
};

export function parsePortSpec(spec: string): PortSpec {
  let rest = spec.trim();
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (proto !== "tcp" && proto !== "udp") throw new PortSpecError(`Invalid proto: ${proto}`);
  }
  const parts = rest.split(":");
  if (parts.length > 3 || rest === "") throw new PortSpecError(`Invalid port format: ${spec}`);
  const containerPort = port(parts.at(-1)!, "containerPort");
  const hostPort = parts.length >= 2 && parts.at(-2) !== "" ? port(parts.at(-2)!, "hostPort") : "";
  const hostIp = parts.length === 3 ? parts[0]! : "";
  if (hostIp && !/^\d{1,3}(\.\d{1,3}){3}$/.test(hostIp)) throw new PortSpecError(`Invalid ip address: ${hostIp}`);
  return { key: `${containerPort}/${proto}`, binding: { HostIp: hostIp, HostPort: hostPort } };
}

/**
 * A service's published port, as a service spec carries it: ingress mode opens it on every host of
 * the team (the routing mesh); host mode on each host that runs a task, to that task.
 */
export interface ServicePort {
  target: number;
  published?: number;
  protocol: "tcp" | "udp";
  publishMode: "host" | "ingress";
}

/**
 * `docker service create -p`: the short form (`8080:80`, `80`, `53:53/udp`) or the long one
 * (`mode=host,published=8080,target=80,protocol=udp`). As with Docker, a published number means
 * the routing mesh (ingress) unless `mode=host`; with none the port is host mode (the host picks a
 * number). Null when it is not one (each caller says so in its own words: the CLI names the flag,
 * the dashboard the field). Port ranges are the service schema's to check.
 */
export function parseServicePort(spec: string): ServicePort | null {
  if (spec.includes("=")) return parseLongForm(spec);
  const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp))?$/.exec(spec);
  if (!m) return null;
  return {
    target: Number(m[2]),
    ...(m[1] ? { published: Number(m[1]) } : {}),
    protocol: (m[3] ?? "tcp") as "tcp" | "udp",
    publishMode: m[1] ? "ingress" : "host",
  };
}

function parseLongForm(spec: string): ServicePort | null {
  const kv = new Map<string, string>();
  for (const part of spec.split(",")) {
    const [k, v, ...rest] = part.split("=");
    if (!k || v === undefined || rest.length || kv.has(k)) return null;
    kv.set(k.trim(), v.trim());
  }
  for (const k of kv.keys()) if (!["mode", "published", "target", "protocol"].includes(k)) return null;
  const num = (v: string | undefined) => (v !== undefined && /^\d{1,5}$/.test(v) ? Number(v) : undefined);
  const target = num(kv.get("target"));
  const published = num(kv.get("published"));
  const protocol = kv.get("protocol") ?? "tcp";
  const mode = kv.get("mode") ?? (published !== undefined ? "ingress" : "host");
  if (target === undefined || (kv.has("published") && published === undefined)) return null;
  if ((protocol !== "tcp" && protocol !== "udp") || (mode !== "host" && mode !== "ingress")) return null;
  return { target, ...(published !== undefined ? { published } : {}), protocol, publishMode: mode };
}
