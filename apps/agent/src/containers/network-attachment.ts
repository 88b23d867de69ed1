// A container's place on the host's networks: which bridge networks it joins, its endpoints and
// published ports while it runs, `network connect`/`disconnect`, and its /etc/hosts and resolv.conf.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerConfig, HostConfig } from "@berth/protocol";
import type { OciMount } from "../runtime/index.ts";
import { NetworkError, type Endpoint, type EndpointRequest, type NetworkRecord, type NetworkService } from "../network/index.ts";
import { PortError, requestedPorts } from "../network/index.ts";
import type { RulePort } from "../network/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerPaths } from "./paths.ts";
import { isRunning, type ContainerRecord } from "./record.ts";
import type { ContainerStore } from "./store.ts";

/** `host` shares the agent's network namespace; anything else gets its own (bridge endpoints are plumbed into it). */
export function networkOf(host: HostConfig): "host" | "private" {
  return host.NetworkMode === "host" ? "host" : "private";
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
    if (mode.startsWith("container:")) {
      throw new ContainerError("sharing another container's network namespace (container:…) is not supported yet", "INVALID");
    }
    const nets = this.o.networks;
    if (!nets) throw new ContainerError(`network ${mode} not found: bridge networking is not enabled on this agent`, "NOT_FOUND");
    const out: Record<string, EndpointRequest> = {};
    const add = (ref: string, req: EndpointRequest) => {
      const net = network(nets, ref);
      if (net.Driver !== "bridge") {
        throw new ContainerError(`container cannot be connected to network ${net.Name} and another network`, "INVALID");
      }
      checkEndpointRequest(net, req);
      out[net.Id] = req;
    };
    const endpoints = config.NetworkingConfig?.EndpointsConfig ?? {};
    add(mode, endpoints[mode] ?? {});
    for (const [ref, req] of Object.entries(endpoints)) if (ref !== mode) add(ref, req);
    return out;
  }

  /**
   * At a start, before the container's /etc files are written: an address on every network of the
   * container, and its published ports held. Sets its endpoints and ports; the endpoints are to be
   * plumbed once its process exists.
   */
  async join(rec: ContainerRecord): Promise<Endpoint[]> {
    const endpoints = this.allocateEndpoints(rec);
    rec.endpoints = Object.fromEntries(endpoints.map((e) => [e.NetworkID, e]));
    if (endpoints.length) {
      try {
        rec.ports = await this.o.networks!.reservePorts(requestedPorts(rec.config.HostConfig, rec.exposedPorts ?? []));
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
  private allocateEndpoints(rec: ContainerRecord): Endpoint[] {
    const nets = this.o.networks;
    if (!nets || !rec.networks) return [];
    const endpoints: Endpoint[] = [];
    try {
      for (const [netId, req] of Object.entries(rec.networks)) {
        endpoints.push(nets.allocate(netId, rec.id, req, `eth${endpoints.length}`, rec.name));
      }
    } catch (e) {
      for (const ep of endpoints) nets.release(ep);
      throw asContainerError(e);
    }
    return endpoints;
  }

  /** Frees the endpoints and ports of a container that exited (or failed to start). */
  async leave(rec: ContainerRecord): Promise<void> {
    const icc = Object.values(rec.endpoints ?? {}).some((e) => this.o.networks?.iccOff(e.NetworkID));
    for (const ep of Object.values(rec.endpoints ?? {})) this.o.networks?.release(ep);
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
    if (rec.ports?.length) await this.o.networks?.reservePorts(rec.ports).catch(() => undefined);
  }

  /** Every starting or running container's published ports, with the address each forwards to (for the nftables rules). */
  publishedPorts(): RulePort[] {
    return this.o.store.all().flatMap((r) => {
      // A container holds ports from just before its start until its exit (its DNAT goes live before it runs).
      if (!r.ports?.length) return [];
      const ep = Object.values(r.endpoints ?? {}).find((e) => !this.o.networks?.all().find((n) => n.Id === e.NetworkID)?.Internal);
      if (!ep) return [];
      const containerIp = ep.IPAddress;
      return r.ports.map((p) => ({ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp, containerPort: p.containerPort }));
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
    if (net.Driver !== "bridge") throw new ContainerError(`container cannot be connected to network ${net.Name}`, "INVALID");
    if (rec.networks[net.Id]) throw new ContainerError(`endpoint with name ${rec.name} already exists in network ${net.Name}`, "CONFLICT");
    checkEndpointRequest(net, req);
    if (isRunning(rec)) {
      const used = new Set(Object.values(rec.endpoints ?? {}).map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      let ep: Endpoint;
      try {
        ep = nets.allocate(net.Id, rec.id, req, `eth${n}`, rec.name);
      } catch (e) {
        throw asContainerError(e);
      }
      try {
        const routed = Object.values(rec.endpoints ?? {}).some((e) => !nets.all().find((x) => x.Id === e.NetworkID)?.Internal);
        await nets.plumb(rec.state.Pid, [ep], { hasDefaultRoute: routed });
      } catch (e) {
        nets.release(ep);
        throw new ContainerError(`could not connect container ${rec.name} to network ${net.Name}: ${(e as Error).message}`, "FAILED");
      }
      rec.endpoints = { ...rec.endpoints, [net.Id]: ep };
      if (nets.iccOff(net.Id)) await nets.applyRules();
    }
    rec.networks = { ...rec.networks, [net.Id]: req };
    this.o.store.save(rec);
  }

  /** Disconnects a container from a network; a running one loses the interface at once. */
  async disconnect(networkRef: string, ref: string): Promise<void> {
    const nets = this.o.networks;
    if (!nets) throw new ContainerError("bridge networking is not enabled on this agent", "INVALID");
    const rec = this.o.find(ref);
    const net = network(nets, networkRef);
    if (!rec.networks?.[net.Id]) throw new ContainerError(`container ${rec.id} is not connected to network ${net.Name}`, "CONFLICT");
    const ep = rec.endpoints?.[net.Id];
    if (ep) {
      await nets.unplumb(ep);
      nets.release(ep);
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

  /** /etc/hostname, /etc/hosts and /etc/resolv.conf of the container, bind-mounted over the image's. */
  writeEtcFiles(rec: ContainerRecord, network: "host" | "private"): OciMount[] {
    const d = this.o.paths.dir(rec.id);
    const hostname = network === "host" ? readFileSync("/etc/hostname", "utf8").trim() || rec.hostname : rec.hostname;
    writeFileSync(join(d, "hostname"), `${hostname}\n`);
    const hosts = [
      "127.0.0.1\tlocalhost",
      "::1\tlocalhost ip6-localhost ip6-loopback",
      "fe00::0\tip6-localnet",
      "ff00::0\tip6-mcastprefix",
      "ff02::1\tip6-allnodes",
      "ff02::2\tip6-allrouters",
      "",
    ];
    // The container's own addresses name it, as Docker writes them.
    for (const ep of Object.values(rec.endpoints ?? {})) hosts.splice(hosts.length - 1, 0, `${ep.IPAddress}\t${rec.hostname}`);
    writeFileSync(join(d, "hosts"), network === "host" ? readFileSync("/etc/hosts", "utf8") : hosts.join("\n"));
    let resolv = "";
    try {
      resolv = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      resolv = "";
    }
    // A loopback resolver of the host is unreachable from a container's own netns; Docker drops it too.
    if (network !== "host")
      resolv = resolv
        .split("\n")
        .filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l))
        .join("\n");
    // On a user-defined network the network's embedded DNS answers (container names, then the host's resolvers).
    const first = Object.values(rec.endpoints ?? {}).sort((a, b) => a.ifname.localeCompare(b.ifname))[0];
    const embedded = first ? this.o.networks?.resolverFor(first.NetworkID) : null;
    if (embedded) {
      const search = resolv.split("\n").filter((l) => /^\s*search\s/.test(l));
      resolv = [`nameserver ${embedded}`, ...search, "options ndots:0", ""].join("\n");
    }
    writeFileSync(join(d, "resolv.conf"), resolv);
    const options = ["rbind", "rprivate", ...(rec.config.HostConfig.ReadonlyRootfs ? ["ro"] : [])];
    const bind = (name: string, dest: string): OciMount => ({ destination: dest, type: "bind", source: join(d, name), options });
    return [bind("hostname", "/etc/hostname"), bind("hosts", "/etc/hosts"), bind("resolv.conf", "/etc/resolv.conf")];
  }
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

/** Static addresses and aliases are for user-defined networks only, as in Docker. */
function checkEndpointRequest(net: NetworkRecord, req: EndpointRequest): void {
  if (net.predefined && (req.IPAMConfig?.IPv4Address || req.Aliases?.length)) {
    throw new ContainerError("user specified IP address and aliases are supported on user defined networks only", "INVALID");
  }
}
