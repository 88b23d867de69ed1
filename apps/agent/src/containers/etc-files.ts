// The text of a container's /etc/hosts and /etc/resolv.conf, as dockerd writes them: the
// standard localhost lines, the container's own addresses, `--add-host` and link entries; the
// host's resolvers (loopback ones dropped) or the network's embedded DNS, with `--dns-search`
// and `--dns-option` in place of the host's search and options lines.
import { isIP } from "node:net";
import { ContainerError } from "./errors.ts";

const LOCAL_HOSTS = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/** `--add-host` entries (`name:ip` or `name=ip`), checked at create; `host-gateway` is allowed as the address. */
export function parseExtraHosts(entries: readonly string[]): Array<{ name: string; ip: string }> {
  return entries.map((entry) => {
    // dockerd splits at the first ':' or '=' (IPv6 addresses keep their colons).
    const at = entry.search(/[:=]/);
    const name = at > 0 ? entry.slice(0, at) : "";
    const ip = at > 0 ? entry.slice(at + 1).replace(/^\[(.*)\]$/, "$1") : "";
    if (!name || /\s/.test(name)) throw new ContainerError(`bad format for add-host: "${entry}"`, "INVALID");
    if (ip !== "host-gateway" && isIP(ip) === 0) throw new ContainerError(`invalid IP address in add-host: "${ip}"`, "INVALID");
    return { name, ip };
  });
}

export interface HostsInput {
  /** The container's own addresses, each naming it. */
  own: Array<{ ip: string; names: string }>;
  /** Links and `--add-host`, in that order (as dockerd writes them). */
  extra: Array<{ ip: string; names: string }>;
}

export function hostsFile(input: HostsInput): string {
  const lines = [...LOCAL_HOSTS, ...[...input.extra, ...input.own].map((e) => `${e.ip}\t${e.names}`)];
  return `${lines.join("\n")}\n`;
}

export interface ResolvInput {
  /** The host's /etc/resolv.conf. */
  hostResolv: string;
  /** The network's embedded DNS, when the container has one. */
  embedded: string | null;
  /** `--dns`: nameservers of the container's own (without an embedded DNS they replace the host's). */
  dns: readonly string[];
  dnsSearch: readonly string[];
  dnsOptions: readonly string[];
  /** A host-network container reads the host's resolvers as they are. */
  hostNetwork: boolean;
}

export function resolvConf(input: ResolvInput): string {
  const lines = input.hostResolv.split("\n");
  const pick = (re: RegExp) => lines.filter((l) => re.test(l)).map((l) => l.trim());
  // A loopback resolver of the host is unreachable from a container's own netns; Docker drops it too.
  const hostServers = pick(/^\s*nameserver\s/).filter((l) => input.hostNetwork || !/^nameserver\s+(127\.|::1\b)/.test(l));
  const servers = input.embedded
    ? [`nameserver ${input.embedded}`]
    : input.dns.length
      ? input.dns.map((s) => `nameserver ${s}`)
      : hostServers;
  const search = input.dnsSearch.length ? [`search ${input.dnsSearch.join(" ")}`] : pick(/^\s*search\s/);
  const options = input.dnsOptions.length
    ? [...input.dnsOptions]
    : input.embedded
      ? []
      : pick(/^\s*options\s/).flatMap((l) => l.split(/\s+/).slice(1));
  // The embedded DNS answers bare container names, so no search domain should be tried first.
  if (input.embedded && !options.some((o) => o.startsWith("ndots:"))) options.push("ndots:0");
  return [...servers, ...search, ...(options.length ? [`options ${options.join(" ")}`] : []), ""].join("\n");
}
