// A container's place on the host's networks: which bridge networks it joins, its endpoints and
// published ports while it runs, `network connect`/`disconnect`, and its /etc/hosts and resolv.conf.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerConfig, HostConfig } from "@berth/protocol";
import type { Namespace, OciMount } from "../runtime/index.ts";
import { hostsFile, parseExtraHosts, resolvConf } from "./etc-files.ts";
import { linkEntries } from "./links.ts";
import { sharedWith } from "./shared-namespaces.ts";
import { NetworkError, type Endpoint, type EndpointRequest, type NetworkRecord, type NetworkService } from "../network/index.ts";
import { PortError, requestedPorts } from "../network/index.ts";
import type { RulePort } from "../network/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerPaths } from "./paths.ts";
import { isRunning, type ContainerRecord } from "./record.ts";
import type { ContainerStore } from "./store.ts";

/**
 * `host` shares the agent's network namespace, `container:` another container's (resolved at start,
 * see shared-namespaces.ts); anything else gets its own (bridge endpoints are plumbed into it).
 */
export function networkOf(host: HostConfig): Namespace {
  if (host.NetworkMode === "host") return "host";
  return sharedWith(host.NetworkMode) !== null ? { path: "" } : "private";
}

/** Refuses published ports without a bridge network to forward them to, and malformed ones. */
export function checkPublishedPorts(config: ContainerConfig, networks: Record<string, EndpointRequest> | null): void {
  try {
    const ports = requestedPorts(config.HostConfig, []);
    if (ports.length && !networks) {
      const mode = config.HostConfig.NetworkMode || "none";
      throw new ContainerError(`published ports need a bridge network; network mode ${mode} has none`, "INVALID");
    }
  } catch (e) {
    if (e instanceof PortError) throw new ContainerError(e.message, "INVALID");
    throw e;
  }
}

export interface NetworkAttachmentOptions {
  store: ContainerStore;
  paths: ContainerPaths;
  /** Bridge networking; without it containers get `none` (loopback only) or `host`. */
  networks: NetworkService | undefined;
  /** A container by ID, name or ID prefix (the container layer's lookup and errors). */
  find(ref: string): ContainerRecord;
}

export class NetworkAttachment {
  constructor(private readonly o: NetworkAttachmentOptions) {}

  /** The host's bridge networks, absent when bridge networking is off. */
  get networks(): NetworkService | undefined {
    return this.o.networks;
  }

  /**
   * The bridge networks a new container joins, by network ID: NetworkMode's (`bridge` when
   * networking is on and none is given), with the endpoint settings asked for on it. null for
   * `host` and `none`.
   */
  requestedNetworks(config: ContainerConfig): Record<string, EndpointRequest> | null {
    const mode = config.HostConfig.NetworkMode || (this.o.networks ? "bridge" : "none");
    if (mode === "host" || mode === "none") {
      if (Object.keys(config.NetworkingConfig?.EndpointsConfig ?? {}).some((k) => k !== mode)) {
        throw new ContainerError(`container cannot be connected to other networks with network mode ${mode}`, "INVALID");
      }
      return null;
    }
    if (sharedWith(mode) !== null) {
      if (Object.keys(config.NetworkingConfig?.EndpointsConfig ?? {}).some((k) => k !== mode)) {
        throw new ContainerError(
          "container sharing network namespace with another container or host cannot be connected to any other network",
          "INVALID",
        );
      }
      return null;
    }
    const nets = this.o.networks;
    if (!nets) throw new ContainerError(`network ${mode} not found: bridge networking is not enabled on this agent`, "NOT_FOUND");
    const out: Record<string, EndpointRequest> = {};
    const add = (ref: string, req: EndpointRequest) => {
      const net = network(nets, ref);
      if (net.Driver !== "bridge" && net.Driver !== "overlay") {
        throw new ContainerError(`container cannot be connected to network ${net.Name} and another network`, "INVALID");
      }
      checkEndpointRequest(nets, net, req);
      out[net.Id] = req;
    };
    const endpoints = config.NetworkingConfig?.EndpointsConfig ?? {};
    const main: EndpointRequest = endpoints[mode] ?? {};
    // The container-wide MAC address (Config.MacAddress) is its main network's endpoint's, as dockerd moves it there.
    add(mode, config.MacAddress && !main.MacAddress ? { ...main, MacAddress: config.MacAddress } : main);
    for (const [ref, req] of Object.entries(endpoints)) if (ref !== mode) add(ref, req);
    return out;
  }

  /**
   * At a start, before the container's /etc files are written: an address on every network of the
   * container, and its published ports held. Sets its endpoints and ports; the endpoints are to be
   * plumbed once its process exists.
   */
  async join(rec: ContainerRecord): Promise<Endpoint[]> {
    const endpoints = await this.allocateEndpoints(rec);
    rec.endpoints = Object.fromEntries(endpoints.map((e) => [e.NetworkID, e]));
    if (endpoints.length) {
      // Published ports forward to the first endpoint with a way out; on both families when it has IPv6.
      const v6 = this.publishTarget(endpoints)?.GlobalIPv6Address;
      const wanted = requestedPorts(rec.config.HostConfig, rec.exposedPorts ?? [], { ipv6: Boolean(v6) });
      try {
        rec.ports = await this.o.networks!.reservePorts(wanted, { ...(v6 ? { v6 } : {}) });
      } catch (e) {
        if (e instanceof NetworkError) {
          throw new ContainerError(`driver failed programming external connectivity on endpoint ${rec.name}: ${e.message}`, "CONFLICT");
        }
        throw e;
      }
    }
    return endpoints;
  }

  /** Plumbs the endpoints into the created (not yet started) container whose init is `pid`. */
  async plumb(rec: ContainerRecord, pid: number, endpoints: Endpoint[]): Promise<void> {
    const nets = this.o.networks;
    if (!nets || !endpoints.length) return;
    await nets.plumb(pid, endpoints);
    // The DNAT for its ports, and ICC rules naming its veth, go live before the container runs.
    if (rec.ports?.length || endpoints.some((e) => nets.iccOff(e.NetworkID))) await nets.applyRules();
  }

  /** Addresses on every network of the container, before its start (they go in its /etc/hosts). */
  private async allocateEndpoints(rec: ContainerRecord): Promise<Endpoint[]> {
    const nets = this.o.networks;
    if (!nets || !rec.networks) return [];
    const endpoints: Endpoint[] = [];
    try {
      for (const [netId, req] of Object.entries(rec.networks)) {
        endpoints.push(await nets.allocate(netId, rec.id, req, `eth${endpoints.length}`, rec.name, taskOf(rec)));
      }
    } catch (e) {
      for (const ep of endpoints) nets.release(ep, rec.id);
      throw asContainerError(e);
    }
    return endpoints;
  }

  /** Frees the endpoints and ports of a container that exited (or failed to start). */
  async leave(rec: ContainerRecord): Promise<void> {
    const icc = Object.values(rec.endpoints ?? {}).some((e) => this.o.networks?.iccOff(e.NetworkID));
    for (const ep of Object.values(rec.endpoints ?? {})) this.o.networks?.release(ep, rec.id);
    rec.endpoints = {};
    const ports = rec.ports?.length ?? 0;
    if (ports) {
      this.o.networks?.releasePorts(rec.ports!);
      rec.ports = [];
    }
    // Its DNAT and ICC rules go with it (rendered from the running containers, which it no longer is).
    if (ports || icc) await this.o.networks?.applyRules().catch(() => undefined);
  }

  /** An adopted container's published ports, held again (the DNAT rules stayed in the kernel meanwhile). */
  async holdPorts(rec: ContainerRecord): Promise<void> {
    const v6 = this.publishTarget(Object.values(rec.endpoints ?? {}))?.GlobalIPv6Address;
    if (rec.ports?.length) await this.o.networks?.reservePorts(rec.ports, { ...(v6 ? { v6 } : {}) }).catch(() => undefined);
  }

  /** The endpoint a container's published ports forward to: its first on a network that is not internal. */
  private publishTarget(endpoints: Endpoint[]): Endpoint | undefined {
    return endpoints.find((e) => !this.o.networks?.all().find((n) => n.Id === e.NetworkID)?.Internal);
  }

  /** Every starting or running container's published ports, with the address each forwards to (for the nftables rules). */
  publishedPorts(): RulePort[] {
    return this.o.store.all().flatMap((r) => {
      // A container holds ports from just before its start until its exit (its DNAT goes live before it runs).
      if (!r.ports?.length) return [];
      const ep = this.publishTarget(Object.values(r.endpoints ?? {}));
      if (!ep) return [];
      return r.ports.flatMap((p) => {
        const containerIp = p.hostIp.includes(":") ? ep.GlobalIPv6Address : ep.IPAddress;
        return containerIp ? [{ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp, containerPort: p.containerPort }] : [];
      });
    });
  }

  /**
   * Connects a container to a bridge network (`docker network connect`): a running one gets its
   * interface at once (hot-plugged veth), a stopped one at its next start.
   */
  async connect(networkRef: string, ref: string, req: EndpointRequest = {}): Promise<void> {
    const nets = this.o.networks;
    if (!nets) throw new ContainerError("bridge networking is not enabled on this agent", "INVALID");
    const rec = this.o.find(ref);
    if (!rec.networks) {
      const mode = rec.config.HostConfig.NetworkMode || "none";
      throw new ContainerError(`container cannot be connected to other networks with network mode ${mode}`, "INVALID");
    }
    const net = network(nets, networkRef);
    if (net.Driver !== "bridge" && net.Driver !== "overlay")
      throw new ContainerError(`container cannot be connected to network ${net.Name}`, "INVALID");
    if (rec.networks[net.Id]) throw new ContainerError(`endpoint with name ${rec.name} already exists in network ${net.Name}`, "CONFLICT");
    checkEndpointRequest(nets, net, req);
    if (isRunning(rec)) {
      const used = new Set(Object.values(rec.endpoints ?? {}).map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      let ep: Endpoint;
      try {
        ep = await nets.allocate(net.Id, rec.id, req, `eth${n}`, rec.name, taskOf(rec));
      } catch (e) {
        throw asContainerError(e);
      }
      try {
        const out = Object.values(rec.endpoints ?? {}).filter((e) => !nets.all().find((x) => x.Id === e.NetworkID)?.Internal);
        await nets.plumb(rec.state.Pid, [ep], { hasDefaultRoute: out.length > 0, hasDefaultRoute6: out.some((e) => e.GlobalIPv6Address) });
      } catch (e) {
        nets.release(ep, rec.id);
        throw new ContainerError(`could not connect container ${rec.name} to network ${net.Name}: ${(e as Error).message}`, "FAILED");
      }
      rec.endpoints = { ...rec.endpoints, [net.Id]: ep };
      if (nets.iccOff(net.Id)) await nets.applyRules();
    }
    rec.networks = { ...rec.networks, [net.Id]: req };
    this.o.store.save(rec);
  }

  /**
   * Disconnects a container from a network; a running one loses the interface at once. With
   * `force`, a network removed while the container was stopped can be dropped from it by its ID.
   */
  async disconnect(networkRef: string, ref: string, force = false): Promise<void> {
    const nets = this.o.networks;
    if (!nets) throw new ContainerError("bridge networking is not enabled on this agent", "INVALID");
    const rec = this.o.find(ref);
    let net: NetworkRecord;
    try {
      net = network(nets, networkRef);
    } catch (e) {
      const gone = Object.keys(rec.networks ?? {}).filter((id) => id.startsWith(networkRef) && !nets.all().some((n) => n.Id === id));
      if (!force || gone.length !== 1) throw e;
      const { [gone[0]!]: _stale, ...kept } = rec.networks!;
      rec.networks = kept;
      this.o.store.save(rec);
      return;
    }
    if (!rec.networks?.[net.Id]) throw new ContainerError(`container ${rec.id} is not connected to network ${net.Name}`, "CONFLICT");
    const ep = rec.endpoints?.[net.Id];
    if (ep) {
      await nets.unplumb(ep);
      nets.release(ep, rec.id);
      const { [net.Id]: _gone, ...rest } = rec.endpoints!;
      rec.endpoints = rest;
      if (nets.iccOff(net.Id)) await nets.applyRules();
    }
    const { [net.Id]: _req, ...others } = rec.networks;
    rec.networks = others;
    this.o.store.save(rec);
  }

  /** Containers with an endpoint on a network now (for network inspect and the in-use check). */
  endpointsOn(networkId: string): Array<{ containerId: string; name: string; endpoint: Endpoint }> {
    return (
      this.o.store
        .all()
        // Endpoints exist from just before a start until the exit.
        .flatMap((r) => (r.endpoints?.[networkId] ? [{ containerId: r.id, name: r.name, endpoint: r.endpoints[networkId] }] : []))
    );
  }

  /**
   * /etc/hostname, /etc/hosts and /etc/resolv.conf of the container, bind-mounted over the image's.
   * A container sharing another's network namespace shares its files too, as in Docker.
   */
  writeEtcFiles(rec: ContainerRecord, network: Namespace, networkOwner?: ContainerRecord): { mounts: OciMount[]; linkEnv: string[] } {
    const options = ["rbind", "rprivate", ...(rec.config.HostConfig.ReadonlyRootfs ? ["ro"] : [])];
    const bind = (dir: string, name: string, dest: string): OciMount => ({
      destination: dest,
      type: "bind",
      source: join(dir, name),
      options,
    });
    const files = (dir: string) => [
      bind(dir, "hostname", "/etc/hostname"),
      bind(dir, "hosts", "/etc/hosts"),
      bind(dir, "resolv.conf", "/etc/resolv.conf"),
    ];
    if (networkOwner) return { mounts: files(this.o.paths.dir(networkOwner.id)), linkEnv: [] };
    const d = this.o.paths.dir(rec.id);
    const hostNetwork = network === "host";
    const host = rec.config.HostConfig;
    const hostname = hostNetwork ? readFileSync("/etc/hostname", "utf8").trim() || rec.hostname : rec.hostname;
    writeFileSync(join(d, "hostname"), `${hostname}\n`);
    const linkEnv = this.writeHosts(rec, hostNetwork);
    let hostResolv = "";
    try {
      hostResolv = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      hostResolv = "";
    }
    // On a user-defined network the network's embedded DNS answers (container names, then the host's resolvers).
    const first = Object.values(rec.endpoints ?? {}).sort((a, b) => a.ifname.localeCompare(b.ifname))[0];
    const embedded = first ? (this.o.networks?.resolverFor(first.NetworkID) ?? null) : null;
    const resolv = resolvConf({
      hostResolv,
      embedded,
      dns: host.Dns ?? [],
      dnsSearch: host.DnsSearch ?? [],
      dnsOptions: host.DnsOptions ?? [],
      hostNetwork,
    });
    writeFileSync(join(d, "resolv.conf"), resolv);
    return { mounts: files(d), linkEnv };
  }

  /**
   * Writes the container's /etc/hosts: its own addresses, its legacy links and its extra hosts.
   * Returns the environment its legacy links give it (the default bridge only).
   */
  private writeHosts(rec: ContainerRecord, hostNetwork: boolean): string[] {
    const d = this.o.paths.dir(rec.id);
    if (hostNetwork) {
      writeFileSync(join(d, "hosts"), readFileSync("/etc/hosts", "utf8"));
      return [];
    }
    const endpoints = Object.values(rec.endpoints ?? {});
    // The container's own addresses name it, as Docker writes them.
    const own = endpoints.map((ep) => ({ ip: ep.IPAddress, names: rec.hostname }));
    // Links on the default bridge are /etc/hosts entries; on user-defined networks the embedded DNS answers them.
    const links = legacyLinks(rec) ? linkEntries(rec, this.o.find, (target) => this.addressOf(rec, target)) : { hosts: [], env: [] };
    const gateway = endpoints[0]?.Gateway || this.o.networks?.defaultGateway() || "";
    const extra = parseExtraHosts(rec.config.HostConfig.ExtraHosts ?? []).map((h) => {
      if (h.ip !== "host-gateway") return { ip: h.ip, names: h.name };
      if (!gateway) throw new ContainerError("unable to derive the IP value for host-gateway", "INVALID");
      return { ip: gateway, names: h.name };
    });
    writeFileSync(join(d, "hosts"), hostsFile({ own, extra: [...links.hosts, ...extra] }));
    return links.env;
  }

  /** `target`'s address on a network it shares with `rec` (else its first), null when it has no endpoint. */
  private addressOf(rec: ContainerRecord, target: ContainerRecord): string | null {
    const theirs = target.endpoints ?? {};
    for (const netId of Object.keys(rec.endpoints ?? rec.networks ?? {})) if (theirs[netId]) return theirs[netId].IPAddress;
    return Object.values(theirs)[0]?.IPAddress ?? null;
  }
}

/**
 * What the control plane needs of a container joining an overlay network: the service task it runs
 * (a service's network admits its tasks though it is not attachable), and whether it takes traffic
 * yet (a container with a health check does once it is healthy).
 */
function taskOf(rec: ContainerRecord): { taskId?: string; serving: boolean } {
  const id = rec.config.Labels?.["com.docker.swarm.task.id"];
  return { ...(id ? { taskId: id } : {}), serving: !rec.healthcheck };
}

/** Links are legacy ones (hosts entries and environment) on the default bridge only. */
function legacyLinks(rec: ContainerRecord): boolean {
  return (rec.config.HostConfig.NetworkMode || "bridge") === "bridge";
}

/** A network by name, ID or ID prefix, its errors as the container layer's. */
function network(nets: NetworkService, ref: string): NetworkRecord {
  try {
    return nets.get(ref);
  } catch (e) {
    throw asContainerError(e);
  }
}

/** A network layer error as the container layer's (same message; not-found and conflicts kept, the rest invalid input). */
function asContainerError(e: unknown): unknown {
  if (!(e instanceof NetworkError)) return e;
  return new ContainerError(e.message, e.code === "NOT_FOUND" || e.code === "CONFLICT" ? e.code : "INVALID");
}

/** Endpoint settings the network cannot honour (static addresses and aliases on predefined networks, bad addresses), refused early. */
function checkEndpointRequest(nets: NetworkService, net: NetworkRecord, req: EndpointRequest): void {
  try {
    nets.checkEndpoint(net.Id, req);
  } catch (e) {
    throw asContainerError(e);
  }
}
