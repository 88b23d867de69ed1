import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../state/index.ts";
import { parseCidr, parseIp } from "./cidr.ts";
import { checkIfName, ip, ipBatch, nft, nsWrite } from "./ip.ts";
import { AddressPool, normalizePool, pickFreeSubnet, type PoolConfig } from "./ipam.ts";
import { renderRules, renderTeardown, type RuleNetwork, type RulePort } from "./nft-rules.ts";
import { PortReservations, type PortMapping, type RelayTarget } from "./ports.ts";
import { EmbeddedDns, hostResolvers, type Resolved } from "./dns.ts";
import { IpamError, NetworkError, PortError } from "./errors.ts";
import { familyOf, parseSubnet, subnetsOverlap } from "./addr.ts";
import { checkEndpointRequest, ipamEntry, poolRequest, splitIpamConfigs } from "./endpoint-request.ts";
import type { AgentRequestAnswer, AgentRequestInput, MeshPeer, OverlayEndpoint, OverlaySyncParsed } from "@berth/protocol";
import { EncryptionMesh } from "./mesh.ts";
import { bringUpOverlay, overlayDevices, programPeers, tearDownOverlay, underlayOf, VXLAN_OVERHEAD } from "./overlay.ts";

/*
 * Networks of one agent: the predefined `bridge` (bridge berth0), `host` and `none`, and
 * user-defined bridges (br-<id>). A bridge network is a Linux bridge with the gateway address,
 * IPAM over its subnet, and its part of the agent's nftables tables (isolation from other
 * networks, masquerade out unless internal). Containers join through veth pairs, plumbed into
 * the container's network namespace after the runtime has created it and before it starts.
 *
 * A network created with EnableIPv6 also has an IPv6 pool: the bridge gets the v6 gateway, each
 * endpoint a v6 address and a v6 default route, and the `ip6 berth` table mirrors the IPv4 rules.
 * Without it a network stays IPv4-only (its containers keep only the kernel's link-local v6).
 */

export interface NetworkRecord {
  Id: string;
  Name: string;
  Driver: "bridge" | "host" | "null" | "overlay";
  Created: string;
  Internal: boolean;
  Attachable: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  /** bridge networks: the address pool, the Linux bridge and the address table (both families' addresses). */
  pool?: PoolConfig;
  bridge?: string;
  allocations: Record<string, string>;
  predefined: boolean;
  /** Absent on records written before IPv6 existed: false. */
  EnableIPv6?: boolean;
  /** The IPv6 pool of a network with EnableIPv6. */
  pool6?: PoolConfig;
  /** IPv6 IPAM configs given without EnableIPv6: shown by inspect, never used (as dockerd does). */
  unusedIpam?: IpamConfigEntry[];
  /** Overlay networks (from the control plane, never written here): the VNI and every endpoint on any host. */
  overlay?: {
    vni: number;
    /** The control plane's revision of this state (see the protocol). */
    revision: number;
    /** The routing mesh's network: the host joins it itself while services publish ports on it. */
    ingress?: boolean;
    endpoints: OverlayEndpoint[];
    services: OverlaySyncParsed["networks"][number]["services"];
    /** Its VXLAN runs over the encryption mesh, between the hosts' tunnel addresses. */
    encrypted: boolean;
    /** The mesh records of the hosts with endpoints on it (encrypted networks). */
    mesh: MeshPeer[];
    vxlan: string;
    mtu?: number;
    up: boolean;
    /** The load-balancer address the bridge was given (set again only when it changes). */
    lbApplied?: string;
    /** The peers and VIPs last programmed into the VXLAN device's tables (programmed again only when they change). */
    peersKey?: string;
  };
}

/** The control plane, for overlay networks: it allocates their addresses and knows every endpoint. */
export interface OverlayControlPlane {
  attach(args: AgentRequestInput<"overlay.attach">): Promise<AgentRequestAnswer<"overlay.attach">>;
  detach(args: AgentRequestInput<"overlay.detach">): Promise<void>;
  serving(args: AgentRequestInput<"overlay.serving">): Promise<void>;
  join(args: AgentRequestInput<"overlay.join">): Promise<AgentRequestAnswer<"overlay.join">>;
  /** Reports that programming a network here failed (the error) or works again (null). */
  status(args: AgentRequestInput<"overlay.status">): Promise<void>;
  /** Registers the host's WireGuard public key and endpoint; answers its tunnel address. */
  mesh(args: AgentRequestInput<"overlay.mesh">): Promise<AgentRequestAnswer<"overlay.mesh">>;
  /** This host's underlay address (where its link to the control plane leaves from); null while unlinked. */
  vtep(): string | null;
}

/** One entry of Docker's IPAM.Config. */
export interface IpamConfigEntry {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string> | null;
}

/** A container's wish for one network (HostConfig.NetworkMode / NetworkingConfig.EndpointsConfig / connect's EndpointConfig). */
export interface EndpointRequest {
  Aliases?: string[] | null;
  /** Legacy links on this network (`network connect --link`), applied by the container layer. */
  Links?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  /** The interface's MAC address (else one made from its IPv4 address, as Docker's). */
  MacAddress?: string;
  /** Kept and shown by inspect; the bridge driver gives none of them a meaning (as dockerd's). */
  DriverOpts?: Record<string, string> | null;
}

/** A container's place on one network while it runs (Docker's EndpointSettings). */
export interface Endpoint {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Aliases: string[];
  /** On an IPv6 network; absent otherwise. */
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  IPv6Gateway?: string;
  /** Extra addresses on the interface (IPAMConfig.LinkLocalIPs). */
  LinkLocalIPs?: string[];
  /** Name of the interface inside the container (eth0, eth1, …). */
  ifname: string;
  /** The interface's MTU when it is not the default (overlay networks: the underlay's less VXLAN's overhead). */
  mtu?: number;
  /** Host side of the veth pair. */
  hostIf: string;
}

export interface CreateNetworkRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: IpamConfigEntry[] | null } | null;
}

/** Names dockerd keeps for itself (runconfig.IsPreDefinedNetwork). */
const PREDEFINED_NAMES = ["bridge", "host", "none", "default"];
/** Docker's option for inter-container communication on a bridge. */
const ICC_OPTION = "com.docker.network.bridge.enable_icc";

export interface NetworkServiceOptions {
  stateDir: string;
  /** The default bridge's subnet; by default the first of Docker's pools that no host route uses. */
  defaultSubnet?: string;
  /** Names of the containers attached to a network (for inspect and the in-use check). */
  endpointsOf: (networkId: string) => Array<{ containerId: string; name: string; endpoint: Endpoint }>;
  /** The published ports of running containers, with the address each forwards to. */
  portsOf: () => RulePort[];
  /** Where the embedded DNS sends names it does not know (`ip` or `ip:port`); the agent's resolv.conf by default. */
  dnsUpstreams?: string[];
  /**
   * What one container asked of name resolution: its own upstream resolvers (`--dns`, used instead
   * of the host's for the names the embedded DNS does not know) and its links (an alias naming
   * another container, answered for this container only), as Docker's embedded DNS does.
   */
  resolutionOf?: (containerId: string) => { dns: string[]; links: Array<{ alias: string; containerId: string }> };
  /** Docker's network events (create, connect, disconnect, destroy) for the agent's event stream. */
  onEvent?: (action: string, networkId: string, attributes: Record<string, string>) => void;
}

export class NetworkService {
  private readonly dir: string;
  private readonly byId = new Map<string, NetworkRecord>();
  private readonly reservations = new PortReservations();
  private readonly dns = new EmbeddedDns(
    (networkId, name, from) => this.resolveName(networkId, name, from),
    (networkId, from) => this.upstreamsFor(networkId, from),
  );

  private controlPlane: OverlayControlPlane | null = null;
  /** The nftables script last applied (null when unknown: at start, or after a failure). */
  private appliedRules: string | null = null;
  /** Overlay kernel programming, one pass at a time (a sync and a container's join may come together). */
  private overlayWork: Promise<unknown> = Promise.resolve();
  /** Endpoints whose detach the control plane has not heard yet (the link was down); sent again at the next sync. */
  private readonly pendingDetach = new Map<string, AgentRequestInput<"overlay.detach">>();
  /** Joins in flight per overlay network: its devices stay while one is. */
  private readonly attaching = new Map<string, number>();
  /** The WireGuard tunnel under encrypted overlay networks. */
  private readonly mesh: EncryptionMesh;
  /** Overlay networks this host failed to program: the error the control plane was told. */
  private readonly overlayErrors = new Map<string, string>();
  /** Networks with a repair pass scheduled after a failure. */
  private readonly repairs = new Map<string, NodeJS.Timeout>();

  constructor(private readonly o: NetworkServiceOptions) {
    this.dir = join(o.stateDir, "networks");
    this.mesh = new EncryptionMesh(o.stateDir);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(".json")) continue;
      try {
        const rec = JSON.parse(readFileSync(join(this.dir, f), "utf8")) as NetworkRecord;
        this.byId.set(rec.Id, rec);
      } catch {
        // unreadable: left on disk for an operator
      }
    }
  }

  /** Creates the predefined networks on first start, brings every bridge up, and renders the rules. */
  async init(): Promise<void> {
    if (!this.findByName("host")) this.save(this.predefined("host", "host"));
    if (!this.findByName("none")) this.save(this.predefined("none", "null"));
    if (!this.findByName("bridge")) {
      const subnet = this.o.defaultSubnet ?? pickFreeSubnet([...(await hostRoutes()), ...this.subnets()]);
      const rec = this.predefined("bridge", "bridge");
      rec.pool = normalizePool({ subnet });
      rec.bridge = "berth0";
      this.save(rec);
    }
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    for (const n of this.byId.values()) if (n.Driver === "bridge") await this.bringUp(n);
    await this.applyRules();
  }

  private predefined(name: string, driver: NetworkRecord["Driver"]): NetworkRecord {
    return {
      Id: randomBytes(32).toString("hex"),
      Name: name,
      Driver: driver,
      Created: new Date().toISOString(),
      Internal: false,
      Attachable: false,
      Labels: {},
      Options: {},
      allocations: {},
      predefined: true,
    };
  }

  // ------------------------------------------------------------------ records

  private save(rec: NetworkRecord): void {
    writeFileAtomic(join(this.dir, `${rec.Id}.json`), JSON.stringify(rec));
    this.byId.set(rec.Id, rec);
  }

  private findByName(name: string): NetworkRecord | undefined {
    return [...this.byId.values()].find((n) => n.Name === name);
  }

  /** By full ID, exact name, or a unique ID prefix, as Docker resolves networks. */
  get(ref: string): NetworkRecord {
    const exact = this.byId.get(ref) ?? this.findByName(ref);
    if (exact) return exact;
    const hits = /^[0-9a-f]+$/.test(ref) ? [...this.byId.values()].filter((n) => n.Id.startsWith(ref)) : [];
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new NetworkError(`network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`, "INVALID");
    throw new NetworkError(`network ${ref} not found`, "NOT_FOUND");
  }

  all(): NetworkRecord[] {
    return [...this.byId.values()];
  }

  /** The subnets of every network, both families. */
  private subnets(): string[] {
    return this.all().flatMap((n) => [...(n.pool ? [n.pool.subnet] : []), ...(n.pool6 ? [n.pool6.subnet] : [])]);
  }

  // ------------------------------------------------------------------ lifecycle

  async create(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    // dockerd takes any name but a blank one; names never reach a command line (bridges are named by ID).
    if (typeof req.Name !== "string" || !req.Name.trim()) throw new NetworkError(`invalid name: ${req.Name ?? ""}`, "INVALID");
    if (PREDEFINED_NAMES.includes(req.Name))
      throw new NetworkError(`operation is not permitted on predefined ${req.Name} network `, "FORBIDDEN");
    if (this.findByName(req.Name)) throw new NetworkError(`network with name ${req.Name} already exists`, "CONFLICT");
    const driver = req.Driver || "bridge";
    if (driver === "overlay")
      throw new NetworkError(
        "overlay networks are created on the control plane (the dashboard, its API or `berth`), which gives every host of the team the same network",
        "FORBIDDEN",
      );
    if (driver !== "bridge")
      throw new NetworkError(
        driver === "host" || driver === "null"
          ? `only one instance of "${driver}" network is allowed`
          : `could not find plugin ${driver} in v1 plugin registry: plugin not found`,
        driver === "host" || driver === "null" ? "FORBIDDEN" : "NOT_FOUND",
      );
    if (req.IPAM?.Driver && req.IPAM.Driver !== "default")
      throw new NetworkError(`IPAM driver ${req.IPAM.Driver} is not available (only default)`, "INVALID");
    const { v4, v6 } = splitIpamConfigs(req.IPAM?.Config ?? []);
    if (v4.length > 1) throw new NetworkError("only one IPv4 subnet per network is supported", "INVALID");
    if (v6.length > 1) throw new NetworkError("only one IPv6 subnet per network is supported", "INVALID");
    const enableIPv6 = Boolean(req.EnableIPv6);
    // dockerd 20.10 has no default IPv6 pools: an IPv6 network names its subnet.
    if (enableIPv6 && !v6[0])
      throw new NetworkError(
        "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
        "NOT_FOUND",
      );
    const want = v4[0];
    const opts = req.Options ?? {};
    for (const k of Object.keys(opts)) {
      if (k !== "com.docker.network.bridge.name" && k !== ICC_OPTION)
        throw new NetworkError(`network option ${k} is not supported`, "INVALID");
      if (k === ICC_OPTION && !["true", "false"].includes(opts[k]!))
        throw new NetworkError(`invalid value for ${k}: ${opts[k]} (true or false)`, "INVALID");
    }
    let pool: PoolConfig;
    let pool6: PoolConfig | undefined;
    try {
      pool = want?.Subnet
        ? normalizePool(poolRequest(want), req.Name)
        : normalizePool({ subnet: pickFreeSubnet([...(await hostRoutes()), ...this.subnets()]) }, req.Name);
      if (enableIPv6) pool6 = normalizePool(poolRequest(v6[0]!), req.Name);
    } catch (e) {
      if (e instanceof IpamError) throw new NetworkError(e.message, e.code);
      throw e;
    }
    for (const p of [pool, ...(pool6 ? [pool6] : [])]) {
      const wanted = parseSubnet(p.subnet);
      if (this.subnets().some((other) => subnetsOverlap(parseSubnet(other), wanted)))
        throw new NetworkError("invalid pool request: Pool overlaps with other one on this address space", "FORBIDDEN");
    }
    const id = randomBytes(32).toString("hex");
    const bridge = checkIfName(opts["com.docker.network.bridge.name"] ?? `br-${id.slice(0, 12)}`);
    const rec: NetworkRecord = {
      Id: id,
      Name: req.Name,
      Driver: "bridge",
      Created: new Date().toISOString(),
      Internal: Boolean(req.Internal),
      Attachable: Boolean(req.Attachable),
      Labels: { ...(req.Labels ?? {}) },
      Options: { ...opts },
      pool,
      bridge,
      allocations: {},
      predefined: false,
      EnableIPv6: enableIPv6,
      ...(pool6 ? { pool6 } : {}),
      ...(!enableIPv6 && v6.length ? { unusedIpam: v6 } : {}),
    };
    this.save(rec);
    try {
      await this.bringUp(rec);
      await this.applyRules();
    } catch (e) {
      this.byId.delete(id);
      rmSync(join(this.dir, `${id}.json`), { force: true });
      await ip(["link", "del", bridge]).catch(() => undefined);
      throw e;
    }
    this.o.onEvent?.("create", id, { name: req.Name, type: driver });
    return { Id: id, Warning: "" };
  }

  async remove(ref: string): Promise<void> {
    const rec = this.get(ref);
    if (rec.predefined) throw new NetworkError(`${rec.Name} is a pre-defined network and cannot be removed`, "FORBIDDEN");
    if (rec.overlay) throw new NetworkError(`${rec.Name} is an overlay network: it is removed on the control plane`, "FORBIDDEN");
    if (this.o.endpointsOf(rec.Id).length > 0)
      throw new NetworkError(`error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`, "FORBIDDEN");
    this.byId.delete(rec.Id);
    this.dns.close(rec.Id);
    await this.applyRules();
    if (rec.bridge) await ip(["link", "del", rec.bridge]).catch(() => undefined);
    rmSync(join(this.dir, `${rec.Id}.json`), { force: true });
    this.o.onEvent?.("destroy", rec.Id, { name: rec.Name, type: rec.Driver });
  }

  async prune(): Promise<{ NetworksDeleted: string[] }> {
    const deleted: string[] = [];
    for (const n of this.all()) {
      if (n.predefined || n.overlay || this.o.endpointsOf(n.Id).length > 0) continue;
      await this.remove(n.Id);
      deleted.push(n.Name);
    }
    return { NetworksDeleted: deleted };
  }

  /** Docker's network inspect shape. */
  inspect(ref: string): Record<string, unknown> {
    const n = this.get(ref);
    const containers: Record<string, unknown> = {};
    for (const e of this.o.endpointsOf(n.Id)) {
      containers[e.containerId] = {
        Name: e.name,
        EndpointID: e.endpoint.EndpointID,
        MacAddress: e.endpoint.MacAddress,
        IPv4Address: `${e.endpoint.IPAddress}/${e.endpoint.IPPrefixLen}`,
        IPv6Address: e.endpoint.GlobalIPv6Address ? `${e.endpoint.GlobalIPv6Address}/${e.endpoint.GlobalIPv6PrefixLen}` : "",
      };
    }
    return {
      Name: n.Name,
      Id: n.Id,
      Created: n.Created,
      Scope: n.overlay ? "swarm" : "local",
      Driver: n.Driver,
      EnableIPv6: Boolean(n.EnableIPv6),
      IPAM: {
        Driver: "default",
        Options: null,
        Config: [...[n.pool, n.pool6].flatMap((p) => (p ? [ipamEntry(p)] : [])), ...(n.unusedIpam ?? [])],
      },
      Internal: n.Internal,
      Attachable: n.Attachable,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: containers,
      Options: n.overlay
        ? { "com.docker.network.driver.overlay.vxlanid_list": String(n.overlay.vni) }
        : n.bridge && n.predefined
          ? { "com.docker.network.bridge.name": n.bridge, "com.docker.network.bridge.default_bridge": "true" }
          : n.Options,
      Labels: n.Labels,
    };
  }

  list(): Array<Record<string, unknown>> {
    return this.all().map((n) => this.inspect(n.Id));
  }

  // ------------------------------------------------------------------ endpoints

  /** Gives a container its addresses on a bridge network (its static ones if asked); called before the container starts. */
  async allocate(
    networkRef: string,
    containerId: string,
    req: EndpointRequest,
    ifname: string,
    containerName: string,
    opts: { taskId?: string; serving?: boolean } = {},
  ): Promise<Endpoint> {
    const n = this.get(networkRef);
    if (n.overlay) return this.allocateOverlay(n, containerId, req, ifname, containerName, opts);
    if (n.Driver !== "bridge" || !n.pool || !n.bridge)
      throw new NetworkError(`container cannot be connected to network ${n.Name}`, "INVALID");
    checkEndpointRequest(n, req);
    const label = `${n.Name} (${n.Id.slice(0, 12)})`;
    const pool = new AddressPool(n.pool, n.allocations, label);
    const pool6 = n.EnableIPv6 && n.pool6 ? new AddressPool(n.pool6, n.allocations, label) : null;
    let address: string;
    let address6: string | undefined;
    try {
      address = pool.allocate(containerId, req.IPAMConfig?.IPv4Address || undefined);
      try {
        address6 = pool6?.allocate(containerId, req.IPAMConfig?.IPv6Address || undefined);
      } catch (e) {
        pool.release(address);
        throw e;
      }
    } catch (e) {
      if (e instanceof IpamError) throw new NetworkError(e.message, e.code);
      throw e;
    }
    this.save(n);
    this.o.onEvent?.("connect", n.Id, { container: containerId, name: n.Name, type: n.Driver });
    const ipNum = parseIp(address);
    const derived = [
      "02",
      "42",
      ...[ipNum >>> 24, (ipNum >>> 16) & 255, (ipNum >>> 8) & 255, ipNum & 255].map((b) => b.toString(16).padStart(2, "0")),
    ];
    const tag = createHash("sha256").update(`${containerId}/${n.Id}`).digest("hex");
    return {
      NetworkID: n.Id,
      EndpointID: tag,
      Gateway: n.pool.gateway,
      IPAddress: address,
      IPPrefixLen: pool.prefix,
      MacAddress: req.MacAddress ? req.MacAddress.toLowerCase() : derived.join(":"),
      // Docker's aliases on user networks: the ones asked for, plus the container's short ID.
      Aliases: n.predefined ? [] : [...new Set([...(req.Aliases ?? []), containerName, containerId.slice(0, 12)])],
      ...(address6 && pool6 ? { GlobalIPv6Address: address6, GlobalIPv6PrefixLen: pool6.prefix, IPv6Gateway: pool6.config.gateway } : {}),
      ...(req.IPAMConfig?.LinkLocalIPs?.length ? { LinkLocalIPs: [...req.IPAMConfig.LinkLocalIPs] } : {}),
      ifname,
      hostIf: `vb${tag.slice(0, 11)}`,
    };
  }

  /** Refuses endpoint settings the network cannot honour (at create and connect, before any start). */
  checkEndpoint(networkRef: string, req: EndpointRequest): void {
    checkEndpointRequest(this.get(networkRef), req);
  }

  /** Frees a container's address on a network (it stopped, or was disconnected). */
  release(endpoint: Endpoint, containerId: string): void {
    const n = this.byId.get(endpoint.NetworkID);
    if (!n) return;
    if (n.overlay) {
      this.releaseOverlay(n, endpoint, containerId);
      return;
    }
    if (n.allocations[endpoint.IPAddress] !== undefined) {
      const container = n.allocations[endpoint.IPAddress];
      delete n.allocations[endpoint.IPAddress];
      if (endpoint.GlobalIPv6Address) delete n.allocations[endpoint.GlobalIPv6Address];
      this.save(n);
      this.o.onEvent?.("disconnect", n.Id, { container: String(container), name: n.Name, type: n.Driver });
    }
  }

  /**
   * Plumbs a veth pair for each endpoint: the host side on the network's bridge, the other side
   * moved into the namespace of process `pid` (the created, not yet started container) as ethN,
   * addressed, and the default routes through the gateways of the first endpoint that is not
   * internal (IPv4), and of the first such endpoint with an IPv6 address (IPv6).
   */
  async plumb(pid: number, endpoints: Endpoint[], opts: { hasDefaultRoute?: boolean; hasDefaultRoute6?: boolean } = {}): Promise<void> {
    const host: string[] = [];
    const inside: string[] = opts.hasDefaultRoute ? [] : ["link set lo up"];
    let routed = Boolean(opts.hasDefaultRoute);
    let routed6 = Boolean(opts.hasDefaultRoute6);
    let v6 = false;
    for (const e of endpoints) {
      const n = this.byId.get(e.NetworkID);
      if (!n?.bridge) continue;
      const peer = `vc${e.hostIf.slice(2)}`;
      host.push(
        e.mtu
          ? `link add ${checkIfName(e.hostIf)} mtu ${e.mtu} type veth peer name ${checkIfName(peer)} mtu ${e.mtu}`
          : `link add ${checkIfName(e.hostIf)} type veth peer name ${checkIfName(peer)}`,
        `link set ${e.hostIf} master ${checkIfName(n.bridge)} up`,
        `link set ${peer} netns ${pid}`,
      );
      // Link-local IPs get the link-local prefix, as Docker gives them (/16, /64).
      const ll = (e.LinkLocalIPs ?? []).map((a) => (familyOf(a) === 6 ? `${a}/64` : `${a}/16`));
      v6 ||= Boolean(e.GlobalIPv6Address) || ll.some((a) => a.includes(":"));
      inside.push(
        `link set ${peer} name ${checkIfName(e.ifname)}`,
        `link set ${e.ifname} address ${e.MacAddress}`,
        `addr add ${e.IPAddress}/${e.IPPrefixLen} dev ${e.ifname}`,
        // No duplicate address detection, as Docker: IPAM made the address unique, and DAD would hold it back a second or more.
        ...(e.GlobalIPv6Address ? [`addr add ${e.GlobalIPv6Address}/${e.GlobalIPv6PrefixLen} dev ${e.ifname} nodad`] : []),
        ...ll.map((a) => `addr add ${a} dev ${e.ifname}${a.includes(":") ? " nodad" : ""}`),
        `link set ${e.ifname} up`,
      );
      if (!routed && !n.Internal) {
        inside.push(`route add default via ${e.Gateway} dev ${e.ifname}`);
        routed = true;
      }
      if (!routed6 && !n.Internal && e.GlobalIPv6Address && e.IPv6Gateway) {
        inside.push(`route add default via ${e.IPv6Gateway} dev ${e.ifname}`);
        routed6 = true;
      }
    }
    // A host's sysctl defaults may leave IPv6 off in new namespaces: on before the veth arrives, which inherits "default".
    if (v6) await nsWrite(pid, ["/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"], "0");
    await ipBatch(host);
    await ipBatch(inside, pid);
  }

  /** Removes a container's veth on one network while it runs (disconnect); its peer goes with it. */
  async unplumb(endpoint: Endpoint): Promise<void> {
    await ip(["link", "del", checkIfName(endpoint.hostIf)]).catch(() => undefined);
  }

  // ------------------------------------------------------------------ overlay networks

  /** Where overlay addresses come from; set once the agent has a link to its control plane. */
  setControlPlane(cp: OverlayControlPlane): void {
    this.controlPlane = cp;
  }

  /** Runs one pass of overlay kernel programming after the ones before it. */
  private overlaySerial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.overlayWork.then(fn, fn);
    this.overlayWork = next.catch(() => undefined);
    return next;
  }

  /**
   * The control plane's view of the team's overlay networks (see the protocol's overlay.sync):
   * records made or replaced, peers reprogrammed where this host has endpoints, and networks gone
   * forgotten once no local container uses them.
   */
  async syncOverlays(args: OverlaySyncParsed): Promise<void> {
    await this.overlaySerial(async () => {
      const listed = new Set(args.networks.map((n) => n.id));
      for (const st of args.networks) this.takeOverlayState(st);
      const gone = [
        ...(args.removed ?? []),
        ...(args.full
          ? this.all()
              .filter((n) => n.overlay && !listed.has(n.Id))
              .map((n) => n.Id)
          : []),
      ];
      for (const id of gone) {
        const n = this.byId.get(id);
        if (!n?.overlay || this.o.endpointsOf(id).length > 0) continue;
        if (n.overlay.up) await this.overlayDown(n);
        this.byId.delete(id);
      }
      // One nftables transaction for the whole sync (the VIP maps of every network), before the
      // peers. A failure is the host's, reported for each network it touched, and repaired later.
      const up = args.networks.map((st) => this.byId.get(st.id)!).filter((n) => n.overlay?.up);
      const rulesFailed = up.length
        ? await this.applyRules().then(
            () => null,
            (e: Error) => e,
          )
        : null;
      for (const n of up) {
        const failed =
          rulesFailed ??
          (await this.programOverlay(n, false).then(
            () => null,
            (e: Error) => e,
          ));
        this.overlayProgrammed(n.Id, failed);
      }
    });
    await this.joinMeshes();
    // Detaches the control plane missed while the link was down.
    for (const [key, d] of this.pendingDetach) {
      try {
        await this.controlPlane?.detach(d);
        this.pendingDetach.delete(key);
      } catch {
        break;
      }
    }
  }

  /** A network's record from the control plane's state; its endpoint list replaced when the state carries one. */
  private takeOverlayState(st: OverlaySyncParsed["networks"][number]): NetworkRecord {
    const prev = this.byId.get(st.id);
    if (prev && !prev.overlay) throw new NetworkError(`network ${st.id} exists here and is not an overlay network`, "CONFLICT");
    // Messages may cross (a join's answer, a push): the newest state wins.
    if (prev?.overlay && prev.overlay.revision > st.revision) return prev;
    const devs = overlayDevices(st.id);
    const rec: NetworkRecord = {
      Id: st.id,
      Name: st.name,
      Driver: "overlay",
      Created: st.created,
      Internal: st.internal,
      Attachable: st.attachable,
      Labels: { ...st.labels },
      Options: {},
      pool: { subnet: st.subnet, gateway: st.gateway },
      bridge: devs.bridge,
      allocations: {},
      predefined: false,
      overlay: {
        vni: st.vni,
        revision: st.revision,
        ingress: st.ingress,
        endpoints: st.endpoints ?? prev?.overlay?.endpoints ?? [],
        services: st.services,
        encrypted: st.encrypted,
        mesh: st.endpoints ? st.mesh : (prev?.overlay?.mesh ?? []),
        vxlan: devs.vxlan,
        up: prev?.overlay?.up ?? false,
        ...(prev?.overlay?.mtu ? { mtu: prev.overlay.mtu } : {}),
        ...(prev?.overlay?.lbApplied ? { lbApplied: prev.overlay.lbApplied } : {}),
        ...(prev?.overlay?.peersKey ? { peersKey: prev.overlay.peersKey } : {}),
      },
    };
    this.byId.set(st.id, rec);
    if (!prev) this.o.onEvent?.("create", st.id, { name: st.name, type: "overlay" });
    return rec;
  }

  /** Whether the host keeps the network up without containers: the ingress network while a service publishes on it. */
  private meshPinned(n: NetworkRecord): boolean {
    return Boolean(n.overlay?.ingress && n.overlay.services.some((s) => s.ports.length));
  }

  /**
   * The routing mesh: every host joins the ingress network while a service publishes a port on it
   * (its own load-balancer endpoint, no container), so the port answers on every host.
   */
  private async joinMeshes(): Promise<void> {
    const cp = this.controlPlane;
    const vtep = cp?.vtep();
    if (!cp || !vtep) return;
    for (const n of this.all()) {
      if (!this.meshPinned(n) || this.localLb(n)) continue;
      try {
        const { network } = await cp.join({ network: n.Id, vtep });
        await this.overlaySerial(async () => {
          const r = this.takeOverlayState(network);
          await this.overlayUp(r, vtep);
          await this.programOverlay(r).then(
            () => this.overlayProgrammed(r.Id, null),
            (e: Error) => this.overlayProgrammed(r.Id, e),
          );
        });
      } catch {
        // The next sync tries again.
      }
    }
  }

  /**
   * Endpoints of the network on other hosts: the ones whose VTEP is not this host's. On an
   * encrypted network their VTEP is their host's tunnel address (a host not in the mesh yet is
   * left out until it is).
   */
  private remotePeers(n: NetworkRecord): OverlayEndpoint[] {
    const mine = this.controlPlane?.vtep();
    const remote = (n.overlay?.endpoints ?? []).filter((e) => e.vtep !== mine);
    if (!n.overlay?.encrypted) return remote;
    const tunnel = new Map(n.overlay.mesh.map((p) => [p.hostId, p.address]));
    return remote.flatMap((e) => (tunnel.has(e.hostId) ? [{ ...e, vtep: tunnel.get(e.hostId)! }] : []));
  }

  /** The mesh's peers: the other hosts of every encrypted network that is up here. */
  private async programMesh(): Promise<void> {
    const peers = this.all().flatMap((n) => (n.overlay?.encrypted && n.overlay.up ? n.overlay.mesh : []));
    await this.mesh.program(peers);
  }

  /** This host's load-balancer endpoint on the network: the source of its connections to VIPs. */
  private localLb(n: NetworkRecord): OverlayEndpoint | undefined {
    const mine = this.controlPlane?.vtep();
    return n.overlay?.endpoints.find((e) => e.kind === "lb" && e.vtep === mine);
  }

  /**
   * One programming pass for a network whose devices are up: the bridge takes the host's
   * load-balancer address and its MAC (remote hosts know that MAC for it), the VXLAN tables take
   * the remote endpoints, and each VIP is answered (proxy ARP) with the bridge's MAC, so a
   * container's packets to a VIP reach this host's nftables, which pick a task.
   */
  private async programOverlay(n: NetworkRecord, rules = true): Promise<void> {
    const devs = overlayDevices(n.Id);
    const lb = this.localLb(n);
    if (lb && n.overlay!.lbApplied !== lb.ip) {
      const prefix = parseCidr(n.pool!.subnet).prefix;
      const old = n.overlay!.lbApplied;
      if (old) await ip(["addr", "del", `${old}/${prefix}`, "dev", devs.bridge]).catch(() => undefined);
      await ipBatch([`link set ${devs.bridge} address ${lb.mac}`, `addr replace ${lb.ip}/${prefix} dev ${devs.bridge}`]);
      n.overlay!.lbApplied = lb.ip;
    }
    const vips = lb ? (n.overlay?.services ?? []).flatMap((s) => (s.vip ? [{ ip: s.vip, mac: lb.mac }] : [])) : [];
    const remote = this.remotePeers(n);
    // Balancing first: a task that died leaves the VIP sets before its forwarding entries go.
    if (rules) await this.applyRules();
    if (n.overlay!.encrypted) await this.programMesh();
    const key = JSON.stringify([remote.map((e) => [e.ip, e.mac, e.vtep]), vips]);
    if (key === n.overlay!.peersKey) return;
    delete n.overlay!.peersKey;
    await programPeers(devs, remote, vips);
    n.overlay!.peersKey = key;
  }

  /** The serving tasks of a service on an overlay network (running, healthy where they have a check). */
  private backendsOf(n: NetworkRecord, serviceId: string): string[] {
    return (n.overlay?.endpoints ?? []).filter((e) => e.kind === "container" && e.serviceId === serviceId && e.serving).map((e) => e.ip);
  }

  /**
   * A container's health changed: the control plane is told, and every host's balancing follows.
   * Containers without overlay endpoints are none of its business.
   */
  containerServing(containerId: string, serving: boolean): void {
    const onOverlay = this.all().some((n) => n.overlay && this.o.endpointsOf(n.Id).some((e) => e.containerId === containerId));
    if (!onOverlay || !this.controlPlane) return;
    void this.controlPlane.serving({ containerId, serving }).catch(() => undefined);
  }

  private async allocateOverlay(
    n: NetworkRecord,
    containerId: string,
    req: EndpointRequest,
    ifname: string,
    containerName: string,
    opts: { taskId?: string; serving?: boolean },
  ): Promise<Endpoint> {
    if (req.IPAMConfig?.IPv6Address || req.IPAMConfig?.LinkLocalIPs?.length)
      throw new NetworkError(`network ${n.Name} is an IPv4 overlay network: it takes no IPv6 or link-local addresses`, "INVALID");
    const cp = this.controlPlane;
    const vtep = cp?.vtep();
    if (!cp || !vtep)
      throw new NetworkError(`network ${n.Name} is an overlay network, and this host is not linked to its control plane`, "FAILED");
    const aliases = [...new Set([...(req.Aliases ?? []), containerId.slice(0, 12)])];
    const wanted = req.IPAMConfig?.IPv4Address;
    let answer: AgentRequestAnswer<"overlay.attach">;
    let rec: NetworkRecord;
    this.attaching.set(n.Id, (this.attaching.get(n.Id) ?? 0) + 1);
    try {
      try {
        // In the mesh before the endpoint exists: the state its peers get names this host's tunnel.
        if (n.overlay?.encrypted) await this.overlaySerial(() => this.meshUp(vtep));
        answer = await cp.attach({
          network: n.Id,
          containerId,
          name: containerName,
          aliases,
          vtep,
          serving: opts.serving ?? true,
          ...(wanted ? { ip: wanted } : {}),
          ...(opts.taskId ? { taskId: opts.taskId } : {}),
        });
      } catch (e) {
        const code = (e as { code?: string }).code;
        const known = code === "NOT_FOUND" || code === "CONFLICT" || code === "INVALID" || code === "FORBIDDEN";
        throw new NetworkError((e as Error).message, known ? code : "FAILED");
      }
      rec = await this.overlaySerial(async () => {
        const r = this.takeOverlayState(answer.network);
        try {
          await this.overlayUp(r, vtep);
          await this.programOverlay(r);
        } catch (e) {
          this.overlayProgrammed(r.Id, e as Error);
          throw e;
        }
        this.overlayProgrammed(r.Id, null);
        return r;
      });
    } finally {
      this.attaching.set(n.Id, (this.attaching.get(n.Id) ?? 1) - 1);
    }
    const ep = answer.endpoint;
    const tag = createHash("sha256").update(`${containerId}/${n.Id}`).digest("hex");
    this.o.onEvent?.("connect", n.Id, { container: containerId, name: n.Name, type: "overlay" });
    return {
      NetworkID: n.Id,
      EndpointID: tag,
      Gateway: rec.pool!.gateway,
      IPAddress: ep.ip,
      IPPrefixLen: ep.prefix,
      MacAddress: ep.mac,
      Aliases: [...new Set([...aliases, containerName])],
      ifname,
      hostIf: `vb${tag.slice(0, 11)}`,
      ...(rec.overlay?.mtu ? { mtu: rec.overlay.mtu } : {}),
    };
  }

  /**
   * The network's bridge and VXLAN device on this host, with the MTU of the underlay less VXLAN's
   * overhead; an encrypted network's VXLAN sends from the tunnel, less WireGuard's overhead too.
   */
  private async overlayUp(n: NetworkRecord, vtep: string): Promise<void> {
    const o = n.overlay!;
    if (o.up) return;
    const mtu = await this.overlayDevicesUp(n, vtep);
    const devs = overlayDevices(n.Id);
    writeFileSync(`/proc/sys/net/ipv4/conf/${devs.bridge}/route_localnet`, "1");
    // Each host answers the network's names on the same gateway address, for its own containers.
    await this.dns.listen(n.Id, n.pool!.gateway, n.pool!.subnet);
    o.up = true;
    o.mtu = mtu;
    await this.applyRules();
  }

  private async overlayDown(n: NetworkRecord): Promise<void> {
    // Gone from this host, the network has nothing left to fail here.
    clearTimeout(this.repairs.get(n.Id));
    this.repairs.delete(n.Id);
    if (this.overlayErrors.has(n.Id)) this.overlayProgrammed(n.Id, null);
    this.dns.close(n.Id);
    n.overlay!.up = false;
    delete n.overlay!.lbApplied;
    delete n.overlay!.peersKey;
    await this.applyRules();
    await tearDownOverlay(overlayDevices(n.Id));
    if (!n.overlay!.encrypted) return;
    // The mesh keeps the hosts of the encrypted networks still up here, and goes with the last of them.
    if (this.all().some((x) => x.overlay?.encrypted && x.overlay.up)) await this.programMesh();
    else await this.mesh.down();
  }

  /** Creates what is missing of the network's devices (and the mesh under an encrypted one); answers the MTU. */
  private async overlayDevicesUp(n: NetworkRecord, vtep: string): Promise<number> {
    const o = n.overlay!;
    let local = vtep;
    let mtu = (await underlayOf(vtep)).mtu - VXLAN_OVERHEAD;
    if (o.encrypted) {
      const tunnel = await this.meshUp(vtep);
      local = tunnel.address;
      mtu = tunnel.mtu - VXLAN_OVERHEAD;
    }
    const devs = overlayDevices(n.Id);
    await bringUpOverlay(devs, { vni: o.vni, vtep: local, gateway: n.pool!.gateway, prefix: parseCidr(n.pool!.subnet).prefix, mtu });
    return mtu;
  }

  /**
   * The outcome of a programming pass over a network: a failure is told to the control plane
   * (shown on the network's page) and repaired in 5 s, from the devices up; a success after one
   * clears it. Only changes are sent.
   */
  private overlayProgrammed(networkId: string, failure: Error | null): void {
    const error = failure ? failure.message.slice(0, 2000) || "failed" : null;
    if (failure) this.scheduleRepair(networkId);
    if ((this.overlayErrors.get(networkId) ?? null) === error) return;
    if (error) this.overlayErrors.set(networkId, error);
    else this.overlayErrors.delete(networkId);
    void this.controlPlane?.status({ networkId, error }).catch(() => {
      // Told again at the next outcome.
      if (error) this.overlayErrors.delete(networkId);
      else this.overlayErrors.set(networkId, "unreported");
    });
  }

  private scheduleRepair(networkId: string): void {
    if (this.repairs.has(networkId)) return;
    const timer = setTimeout(() => {
      this.repairs.delete(networkId);
      void this.overlaySerial(async () => {
        const n = this.byId.get(networkId);
        const vtep = this.controlPlane?.vtep();
        if (!vtep) return this.scheduleRepair(networkId);
        // A network that never came up here (its first container failed to join) has nothing to repair.
        if (!n?.overlay?.up) return this.overlayProgrammed(networkId, null);
        // Everything is written again: the caches may describe what a failure left half done.
        delete n.overlay.lbApplied;
        delete n.overlay.peersKey;
        this.appliedRules = null;
        try {
          await this.overlayDevicesUp(n, vtep);
          await this.programOverlay(n);
          this.overlayProgrammed(networkId, null);
        } catch (e) {
          this.overlayProgrammed(networkId, e as Error);
        }
      });
    }, 5_000);
    timer.unref();
    this.repairs.set(networkId, timer);
  }

  /** The encryption mesh, up (this host registered with the control plane) before an encrypted network's devices. */
  private async meshUp(vtep: string): Promise<{ address: string; mtu: number }> {
    const cp = this.controlPlane;
    if (!cp) throw new NetworkError("encrypted overlay networks need this host linked to its control plane", "FAILED");
    return this.mesh.ensureUp(vtep, (args) => cp.mesh(args));
  }

  /** A container left an overlay network: the control plane frees its address; the last one here takes the devices down. */
  private releaseOverlay(n: NetworkRecord, endpoint: Endpoint, containerId: string): void {
    const args = { networkId: n.Id, containerId };
    this.o.onEvent?.("disconnect", n.Id, { container: containerId, name: n.Name, type: "overlay" });
    void (this.controlPlane?.detach(args) ?? Promise.reject(new Error("unlinked"))).catch(() =>
      this.pendingDetach.set(`${n.Id}/${containerId}`, args),
    );
    // This host stops balancing to it at once; the others when the control plane's push arrives.
    const o = n.overlay!;
    if (o.endpoints.some((e) => e.containerId === containerId)) {
      o.endpoints = o.endpoints.filter((e) => e.containerId !== containerId);
      if (o.services.length) void this.overlaySerial(() => this.applyRules()).catch(() => undefined);
    }
    // Judged in turn: a container joining meanwhile keeps the devices.
    void this.overlaySerial(async () => {
      const others = this.o.endpointsOf(n.Id).filter((e) => e.endpoint.EndpointID !== endpoint.EndpointID);
      if (others.length === 0 && !this.attaching.get(n.Id) && n.overlay?.up && !this.meshPinned(n)) await this.overlayDown(n);
    }).catch(() => undefined);
  }

  // ------------------------------------------------------------------ host side

  private async bringUp(n: NetworkRecord): Promise<void> {
    if (!n.bridge || !n.pool) return;
    const br = checkIfName(n.bridge);
    const prefix = parseCidr(n.pool.subnet).prefix;
    // Not /sys/class/net: /sys shows the namespace it was mounted in, which need not be the agent's.
    await ip(["link", "add", br, "type", "bridge"]).catch((e: Error) => {
      if (!/File exists/.test(e.message)) throw e;
    });
    await ip(["addr", "replace", `${n.pool.gateway}/${prefix}`, "dev", br]);
    if (n.EnableIPv6 && n.pool6) {
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${br}/disable_ipv6`, "0");
        // Routing between the bridge and the host's other links, which dockerd also turns on for IPv6 networks.
        writeFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "1");
      } catch (e) {
        throw new NetworkError(`cannot enable IPv6 on bridge ${br}: ${(e as Error).message}`, "FAILED");
      }
      await ip(["addr", "replace", `${n.pool6.gateway}/${parseSubnet(n.pool6.subnet).prefix}`, "dev", br, "nodad"]);
    }
    await ip(["link", "set", br, "up"]);
    // A published port used as 127.0.0.1:port is DNATed out of this bridge with a loopback source.
    writeFileSync(`/proc/sys/net/ipv4/conf/${br}/route_localnet`, "1");
    // User-defined networks resolve their containers' names; the default bridge does not, as in Docker.
    if (!n.predefined) await this.dns.listen(n.Id, n.pool.gateway, n.pool.subnet);
  }

  /** The default bridge's gateway: what `--add-host name:host-gateway` means for a container with no bridge endpoint. */
  defaultGateway(): string | null {
    const bridge = this.all().find((n) => n.predefined && n.Driver === "bridge");
    return bridge?.pool?.gateway ?? null;
  }

  /** The resolver a container on this network uses: its embedded DNS (user networks), else none of ours. */
  resolverFor(networkId: string): string | null {
    const n = this.byId.get(networkId);
    return n && !n.predefined && n.pool ? n.pool.gateway : null;
  }

  /**
   * A name asked of network `networkId`'s DNS from address `from`: the running containers that
   * answer to it on a user network the asker shares with them, with their address there.
   *
   * Why by the asker, not by the network: a container's resolv.conf names one embedded DNS (its
   * first user network's), yet Docker resolves the names of every network a container is on,
   * also ones joined later with `network connect`. Rewriting resolv.conf on connect cannot do
   * that: a resolver moves to its next nameserver only when one fails, not when one says a name does
   * not exist (as the first network's DNS, through its upstream, says of the second's names), so one
   * server has to answer for all of the container's networks. So each network's DNS finds the
   * asker by its source address (inside this network's subnet, which the DNS enforces) and looks
   * on this network first, then on the asker's other user networks in interface order; the
   * address given is always one on a network both are on, so it is reachable. An asker that is no
   * running container (an address just freed) sees this network's names only.
   */
  private resolveName(networkId: string, name: string, from: string): Resolved | null {
    const asker = this.askerOn(networkId, from);
    const order = [networkId];
    if (asker) {
      const others = this.all().flatMap((n) => {
        if (n.Id === networkId || n.predefined || (n.Driver !== "bridge" && !n.overlay)) return [];
        const mine = this.o.endpointsOf(n.Id).find((e) => e.containerId === asker.containerId);
        return mine ? [{ id: n.Id, ifname: mine.endpoint.ifname }] : [];
      });
      others.sort((a, b) => a.ifname.localeCompare(b.ifname, "en", { numeric: true }));
      order.push(...others.map((o) => o.id));
    }
    // A link's alias names the linked container for the linking one only, wherever they meet.
    const link = asker ? this.o.resolutionOf?.(asker.containerId).links.find((l) => l.alias.toLowerCase() === name) : undefined;
    for (const id of order) {
      const ips = link ? this.addressesOf(id, link.containerId) : this.namesOn(id, name);
      if (ips) return ips;
    }
    return null;
  }

  /** The container with address `from` on the network (v4 or v6), if one is running there. */
  private askerOn(networkId: string, from: string) {
    return this.o.endpointsOf(networkId).find((e) => e.endpoint.IPAddress === from || e.endpoint.GlobalIPv6Address === from);
  }

  /** A container's addresses on one network, if it has an endpoint there. */
  private addressesOf(networkId: string, containerId: string): Resolved | null {
    const e = this.o.endpointsOf(networkId).find((x) => x.containerId === containerId);
    if (!e) return null;
    return { v4: [e.endpoint.IPAddress], v6: e.endpoint.GlobalIPv6Address ? [e.endpoint.GlobalIPv6Address] : [] };
  }

  /** Where names the embedded DNS does not know go for the asker: its own `--dns` servers, else the host's. */
  private upstreamsFor(networkId: string, from: string): string[] {
    const asker = this.askerOn(networkId, from);
    const own = asker ? (this.o.resolutionOf?.(asker.containerId).dns ?? []) : [];
    return own.length ? own : (this.o.dnsUpstreams ?? hostResolvers());
  }

  /**
   * Running containers on the network answering to `name` (their name, an alias, or their short
   * ID), with their addresses there: IPv4, and IPv6 on an IPv6 network.
   */
  private namesOn(networkId: string, name: string): Resolved | null {
    // An overlay network's names are its endpoints' on every host, as the control plane lists them.
    const n = this.byId.get(networkId);
    if (n?.overlay) {
      // A service's name: its VIP, or (dnsrr) its serving tasks; tasks.<name>: its serving tasks.
      const svc = n.overlay.services.find((x) => x.name.toLowerCase() === name || `tasks.${x.name.toLowerCase()}` === name);
      if (svc) {
        const ips = svc.vip && svc.name.toLowerCase() === name ? [svc.vip] : this.backendsOf(n, svc.id);
        return ips.length ? { v4: ips, v6: [] } : null;
      }
      const hits = n.overlay.endpoints.filter(
        (e) =>
          e.kind === "container" &&
          (e.name.toLowerCase() === name ||
            e.aliases.some((a) => a.toLowerCase() === name) ||
            (name.length >= 12 && e.containerId.startsWith(name))),
      );
      return hits.length ? { v4: hits.map((e) => e.ip), v6: [] } : null;
    }
    const hits = this.o
      .endpointsOf(networkId)
      .filter(
        (e) =>
          e.name.toLowerCase() === name ||
          e.endpoint.Aliases.some((a) => a.toLowerCase() === name) ||
          (name.length >= 12 && e.containerId.startsWith(name)),
      );
    if (!hits.length) return null;
    return {
      v4: hits.map((e) => e.endpoint.IPAddress),
      v6: hits.flatMap((e) => (e.endpoint.GlobalIPv6Address ? [e.endpoint.GlobalIPv6Address] : [])),
    };
  }

  /** Holds the host ports of a starting container (random ones chosen); all or none, with Docker's errors. */
  async reservePorts(mappings: PortMapping[], relay: RelayTarget = {}): Promise<PortMapping[]> {
    try {
      return await this.reservations.reserveAll(mappings, relay);
    } catch (e) {
      if (e instanceof PortError) throw new NetworkError(e.message, "CONFLICT");
      throw e;
    }
  }

  releasePorts(mappings: PortMapping[]): void {
    for (const m of mappings) this.reservations.release(m);
  }

  close(): void {
    this.reservations.closeAll();
    this.dns.closeAll();
  }

  async applyRules(): Promise<void> {
    const bridges = this.all().filter((n) => (n.Driver === "bridge" || n.overlay?.up) && n.bridge && n.pool);
    const text = bridges.length
      ? renderRules(
          bridges.map((n) => ({
            bridge: n.bridge!,
            subnet: n.pool!.subnet,
            internal: n.Internal,
            ...(n.EnableIPv6 && n.pool6 ? { subnet6: n.pool6.subnet } : {}),
            icc: !this.iccOff(n.Id),
            ports: this.iccOff(n.Id) ? this.o.endpointsOf(n.Id).map((e) => e.endpoint.hostIf) : [],
            ...this.vipRules(n),
          })),
          this.o.portsOf(),
        )
      : renderTeardown();
    // The same tables again change nothing (an overlay push that moved no backend): no nft process.
    if (text === this.appliedRules) return;
    this.appliedRules = null;
    await nft(text);
    this.appliedRules = text;
  }

  /** An overlay network's VIPs on this host: each balanced over its service's serving tasks, connections from the host's load-balancer address. */
  private vipRules(n: NetworkRecord): Pick<RuleNetwork, "vips" | "lbIp" | "mesh"> {
    const lb = n.overlay?.up ? this.localLb(n) : undefined;
    if (!lb) return {};
    const vips = n.overlay!.services.flatMap((s) => (s.vip ? [{ vip: s.vip, backends: this.backendsOf(n, s.id) }] : []));
    // The routing mesh: each published port to a serving task; tasks on other hosts see this host's address.
    const mesh = n.overlay!.ingress
      ? {
          ports: n.overlay!.services.flatMap((s) =>
            s.ports.map((p) => ({ proto: p.protocol, port: p.published, targetPort: p.target, backends: this.backendsOf(n, s.id) })),
          ),
          remote: this.remotePeers(n)
            .filter((e) => e.kind === "container")
            .map((e) => e.ip),
        }
      : undefined;
    return { lbIp: lb.ip, ...(vips.length ? { vips } : {}), ...(mesh?.ports.length ? { mesh } : {}) };
  }

  /** Whether the network forbids traffic between its containers (ICC off); its rules then follow its containers. */
  iccOff(networkId: string): boolean {
    return this.byId.get(networkId)?.Options[ICC_OPTION] === "false";
  }
}

/** Destinations of the host's IPv4 routes (not the default route), so new subnets avoid them. */
async function hostRoutes(): Promise<string[]> {
  const out = await ip(["-4", "route", "show", "table", "all"]);
  const routes: string[] = [];
  for (const line of out.split("\n")) {
    // `10.1.0.0/16 dev …`, or with the route type first: `local 10.0.0.5 dev …`, `broadcast …`.
    const m = /^(?:(?:local|broadcast|unicast)\s+)?(\d+\.\d+\.\d+\.\d+)(\/\d+)?(\s|$)/.exec(line.trim());
    if (m) routes.push(`${m[1]}${m[2] ?? "/32"}`);
  }
  return routes.filter((r) => {
    try {
      return parseCidr(r).prefix > 0;
    } catch {
      return false;
    }
  });
}
