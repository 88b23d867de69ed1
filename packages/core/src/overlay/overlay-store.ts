import { EventEmitter } from "node:events";
import { z } from "zod";
import type { Db, Prisma } from "@berth/db";
import { MAX_OVERLAY_ENDPOINTS, type AgentRequestParsed, type OverlayNetworkState } from "@berth/protocol";
import { conflict, DomainError, forbidden, invalid, isUniqueViolation, notFound } from "../errors.ts";
import { INGRESS_NETWORK } from "../services/task-container.ts";
import {
  contains,
  FIRST_VNI,
  formatIp4,
  formatSubnet4,
  freeDefaultSubnet,
  hostRange,
  LAST_VNI,
  lowestFreeAddress,
  MESH_SUBNET,
  macOf,
  parseIp4,
  parseSubnet4,
  subnetsOverlap,
  type Subnet4,
} from "./addressing.ts";
import { meshPeersOf, registerMeshPeer } from "./mesh-peers.ts";

/*
 * Overlay networks in Postgres: each network's subnet and VNI, and every endpoint (address, MAC,
 * the VTEP of its host). Addresses are handed out here, under the database's uniqueness, so two
 * hosts never give out one. Changes are announced ("changed": network id) for the host sync.
 */

/** Docker's network name rule. */
const NetworkName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "a network name is letters, digits, '_', '.' and '-', starting with a letter or digit");

/** Docker's overlay driver option for a fixed VNI (one per network here). */
export const VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list";

export const OverlayCreateSchema = z.object({
  name: NetworkName,
  subnet: z.string().max(64).optional(),
  gateway: z.string().max(64).optional(),
  attachable: z.boolean().default(false),
  internal: z.boolean().default(false),
  encrypted: z.boolean().default(false),
  labels: z.record(z.string().max(1024), z.string().max(4096)).default({}),
  /** Driver options (Docker's `--opt`): only ones the driver knows. */
  options: z.record(z.string().max(256), z.string().max(1024)).default({}),
});
export type OverlayCreateInput = z.input<typeof OverlayCreateSchema>;

export interface OverlayNetworkView {
  id: string;
  teamId: string;
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  attachable: boolean;
  internal: boolean;
  encrypted: boolean;
  ingress: boolean;
  labels: Record<string, string>;
  createdAt: Date;
  endpoints: number;
  /** Hosts that report failing to program the network. */
  failingHosts: number;
}

type NetworkRow = Prisma.OverlayNetworkGetPayload<object>;

const view = (n: NetworkRow, endpoints: number, failingHosts = 0): OverlayNetworkView => ({
  id: n.id,
  teamId: n.teamId,
  name: n.name,
  vni: n.vni,
  subnet: n.subnet,
  gateway: n.gateway,
  attachable: n.attachable,
  internal: n.internal,
  encrypted: n.encrypted,
  ingress: n.ingress,
  labels: n.labels as Record<string, string>,
  createdAt: n.createdAt,
  endpoints,
  failingHosts,
});

export class OverlayStore extends EventEmitter<{ changed: [networkId: string]; removed: [networkId: string, teamId: string] }> {
  constructor(private readonly db: Db) {
    super();
  }

  async create(teamId: string, input: unknown, actorId: string | null, internal: { ingress?: boolean } = {}): Promise<OverlayNetworkView> {
    const parsed = OverlayCreateSchema.safeParse(input);
    if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join(".") || "network"}: ${i.message}`).join("; "));
    const req = parsed.data;
    for (const k of Object.keys(req.options))
      if (k !== VNI_OPTION) throw invalid(`unknown driver option ${k}: the overlay driver takes ${VNI_OPTION} only`);
    const others = await this.db.overlayNetwork.findMany({ where: { teamId } });
    if (others.some((o) => o.name === req.name)) throw conflict(`network with name ${req.name} already exists`);
    if (req.name === INGRESS_NETWORK && !internal.ingress)
      throw conflict(`${INGRESS_NETWORK} is the routing mesh's network, made when a service first publishes a port in ingress mode`);
    const taken = others.map((o) => ({ name: o.name, subnet: parseSubnet4(o.subnet) }));
    let subnet: Subnet4 | null;
    if (req.subnet) {
      subnet = parseSubnet4(req.subnet);
      if (subnet.prefix < 8 || subnet.prefix > 29) throw invalid(`invalid subnet ${req.subnet}: a prefix from /8 to /29`);
      const clash = taken.find((t) => subnetsOverlap(t.subnet, subnet!));
      if (clash) throw conflict(`subnet ${req.subnet} overlaps network ${clash.name} (${formatSubnet4(clash.subnet)})`);
      if (subnetsOverlap(MESH_SUBNET, subnet))
        throw conflict(`subnet ${req.subnet} overlaps ${formatSubnet4(MESH_SUBNET)}, the encryption mesh's tunnel addresses`);
    } else {
      subnet = freeDefaultSubnet(taken.map((t) => t.subnet));
      if (!subnet) throw conflict("no free subnet left in the default pool 10.0.0.0/8: give one");
    }
    let gateway = hostRange(subnet).first;
    if (req.gateway) {
      const g = parseIp4(req.gateway);
      const { first, last } = hostRange(subnet);
      if (g === null || g < first || g > last)
        throw invalid(`gateway ${req.gateway} is not a host address of subnet ${formatSubnet4(subnet)}`);
      gateway = g;
    }
    let vni: number | null = null;
    if (req.options[VNI_OPTION] !== undefined) {
      const v = Number(req.options[VNI_OPTION]);
      if (!Number.isInteger(v) || v < 1 || v > LAST_VNI)
        throw invalid(`invalid ${VNI_OPTION} ${req.options[VNI_OPTION]}: one VNI from 1 to ${LAST_VNI}`);
      if (await this.db.overlayNetwork.findUnique({ where: { vni: v }, select: { id: true } }))
        throw conflict(`VNI ${v} is in use by another overlay network`);
      vni = v;
    }
    // The VNI is unique across the install; two creators racing for one retry with the next.
    for (let attempt = 0; attempt < 5; attempt++) {
      const chosen = vni ?? (await this.freeVni());
      try {
        const row = await this.db.overlayNetwork.create({
          data: {
            teamId,
            name: req.name,
            vni: chosen,
            subnet: formatSubnet4(subnet),
            gateway: formatIp4(gateway),
            attachable: req.attachable,
            internal: req.internal,
            encrypted: req.encrypted,
            ingress: internal.ingress ?? false,
            labels: req.labels,
            createdById: actorId,
          },
        });
        this.emit("changed", row.id);
        return view(row, 0);
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        // Which uniqueness it broke is read back, not parsed from the driver's error.
        if (await this.db.overlayNetwork.findFirst({ where: { teamId, name: req.name }, select: { id: true } }))
          throw conflict(`network with name ${req.name} already exists`);
        if (vni !== null) throw conflict(`VNI ${vni} is in use by another overlay network`);
      }
    }
    throw conflict("could not allocate a VNI: too many networks created at once; try again");
  }

  /** The lowest VNI from FIRST_VNI that no network uses. */
  private async freeVni(): Promise<number> {
    const used = await this.db.overlayNetwork.findMany({
      where: { vni: { gte: FIRST_VNI } },
      select: { vni: true },
      orderBy: { vni: "asc" },
    });
    let free = FIRST_VNI;
    for (const u of used) {
      if (u.vni > free) break;
      free = u.vni + 1;
    }
    if (free > LAST_VNI) throw conflict("every VNI is in use");
    return free;
  }

  async list(teamIds: readonly string[]): Promise<OverlayNetworkView[]> {
    const rows = await this.db.overlayNetwork.findMany({
      where: { teamId: { in: [...teamIds] } },
      include: { _count: { select: { endpoints: { where: { kind: "container" } }, hostErrors: true } } },
      orderBy: { name: "asc" },
    });
    return rows.map((r) => view(r, r._count.endpoints, r._count.hostErrors));
  }

  async get(id: string): Promise<OverlayNetworkView> {
    const row = await this.db.overlayNetwork.findUnique({
      where: { id },
      include: { _count: { select: { endpoints: { where: { kind: "container" } }, hostErrors: true } } },
    });
    if (!row) throw notFound(`overlay network ${id}`);
    return view(row, row._count.endpoints, row._count.hostErrors);
  }

  /** The network's endpoints, for its page: address, host and container. */
  async endpoints(id: string) {
    return this.db.overlayEndpoint.findMany({
      where: { networkId: id, kind: "container" },
      select: { containerId: true, name: true, ip: true, mac: true, vtep: true, serving: true, host: { select: { id: true, name: true } } },
      orderBy: { createdAt: "asc" },
    });
  }

  /** The VIPs of the services on the network, by service name. */
  async vips(id: string): Promise<{ service: string; serviceId: string; ip: string }[]> {
    const rows = await this.db.overlayVip.findMany({ where: { networkId: id }, include: { service: { select: { name: true } } } });
    return rows
      .map((r) => ({ service: r.service.name, serviceId: r.serviceId, ip: r.ip }))
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  /**
   * Removes a network without endpoints. With `drainMs`, endpoints of tasks whose service is gone
   * (their containers are stopping, as after `docker stack rm`) are waited for that long first, as
   * Swarm removes a network its removed services' tasks are still leaving.
   */
  async remove(id: string, opts: { drainMs?: number } = {}): Promise<void> {
    let n = await this.get(id);
    const deadline = Date.now() + (opts.drainMs ?? 0);
    while (n.endpoints > 0 && Date.now() < deadline && (await this.onlyLeavingTasks(id))) {
      await new Promise((r) => setTimeout(r, 250));
      n = await this.get(id);
    }
    if (n.endpoints > 0) throw conflict(`network ${n.name} has active endpoints (${n.endpoints})`);
    await this.db.overlayNetwork.delete({ where: { id } });
    this.emit("removed", id, n.teamId);
  }

  /** Whether every container endpoint of the network is a task of a service that no longer exists. */
  private async onlyLeavingTasks(networkId: string): Promise<boolean> {
    const eps = await this.db.overlayEndpoint.findMany({ where: { networkId, kind: "container" }, select: { serviceId: true } });
    const ids = [...new Set(eps.map((e) => e.serviceId))];
    if (ids.includes(null)) return false;
    return (await this.db.service.count({ where: { id: { in: ids as string[] } } })) === 0;
  }

  /** A network as agents see it; with every endpoint when `withEndpoints`. */
  async state(id: string, withEndpoints: boolean): Promise<OverlayNetworkState | null> {
    const revision = await this.nextRevision(id);
    if (revision === null) return null;
    const n = await this.db.overlayNetwork.findUnique({
      where: { id },
      include: withEndpoints ? { endpoints: { orderBy: { createdAt: "asc" }, take: MAX_OVERLAY_ENDPOINTS } } : undefined,
    });
    if (!n) return null;
    const endpoints = withEndpoints ? (n as NetworkRow & { endpoints: EndpointRow[] }).endpoints : undefined;
    const mesh = n.encrypted && endpoints ? await meshPeersOf(this.db, [...new Set(endpoints.map((e) => e.hostId))]) : [];
    return stateOf({ ...n, revision }, endpoints, await this.servicesOn(n), mesh);
  }

  /**
   * A host reports its WireGuard public key and endpoint (before its first encrypted network):
   * it gets its tunnel address, and when either changed, its encrypted networks' hosts learn it.
   */
  async registerMesh(hostId: string, req: AgentRequestParsed<"overlay.mesh">): Promise<{ address: string; prefix: number }> {
    const { address, prefix, changed } = await registerMeshPeer(this.db, hostId, req);
    if (changed) {
      const nets = await this.db.overlayNetwork.findMany({
        where: { encrypted: true, endpoints: { some: { hostId } } },
        select: { id: true },
      });
      for (const n of nets) this.emit("changed", n.id);
    }
    return { address, prefix };
  }

  /**
   * The network's next revision, taken before its state is read: a state read later has a higher
   * one and reflects at least as much (each statement reads what was committed before it began).
   */
  private async nextRevision(id: string): Promise<number | null> {
    const rows = await this.db.$queryRaw<{ revision: number }[]>`
      update overlay_network set revision = revision + 1 where id = ${id} returning revision`;
    return rows[0]?.revision ?? null;
  }

  /** Every overlay network of the host's team, with endpoints for those the host has one on. */
  async statesForHost(hostId: string, teamId: string): Promise<OverlayNetworkState[]> {
    // One query when the team has no overlay network (most links, and every link of a big fleet's re-link).
    const networks = await this.db.overlayNetwork.findMany({
      where: { teamId },
      select: { id: true, endpoints: { where: { hostId }, select: { id: true }, take: 1 } },
    });
    const states = await Promise.all(networks.map((n) => this.state(n.id, n.endpoints.length > 0)));
    return states.filter((x): x is OverlayNetworkState => x !== null);
  }

  /**
   * The services whose current spec attaches them to the network (by its name, in its team), with
   * their VIP there; a service in vip mode that has none yet gets one, from the top of the subnet.
   */
  private async servicesOn(n: NetworkRow): Promise<OverlayNetworkState["services"]> {
    if (n.ingress) return this.ingressServices(n.teamId);
    const rows = await this.db.$queryRaw<{ id: string; name: string; mode: string | null }[]>`
      select s.id, s.name, v.spec->'endpoint'->>'mode' as mode
      from service s join service_version v on v."serviceId" = s.id and v.version = s.version
      where s."teamId" = ${n.teamId}
        and exists (select 1 from jsonb_array_elements(coalesce(v.spec->'task'->'networks', '[]'::jsonb)) a where a->>'target' = ${n.name})
      order by s.name`;
    const vips = new Map((await this.db.overlayVip.findMany({ where: { networkId: n.id } })).map((v) => [v.serviceId, v.ip]));
    const out: OverlayNetworkState["services"] = [];
    for (const r of rows) {
      const mode = r.mode === "dnsrr" ? "dnsrr" : "vip";
      let vip = vips.get(r.id) ?? null;
      if (mode === "vip" && !vip) vip = await this.allocateVip(n, r.id);
      out.push({ id: r.id, name: r.name, mode, vip: mode === "vip" ? vip : null, ports: [] });
    }
    return out;
  }

  /** The team's services that publish ports in ingress mode, with those ports: every host of the team opens them. */
  private async ingressServices(teamId: string): Promise<OverlayNetworkState["services"]> {
    const rows = await this.db.$queryRaw<{ id: string; name: string; ports: unknown }[]>`
      select s.id, s.name, v.spec->'endpoint'->'ports' as ports
      from service s join service_version v on v."serviceId" = s.id and v.version = s.version
      where s."teamId" = ${teamId}
      order by s.name`;
    return rows.flatMap((r) => {
      const ports = ingressPorts(r.ports);
      return ports.length ? [{ id: r.id, name: r.name, mode: "vip" as const, vip: null, ports }] : [];
    });
  }

  /**
   * Before a service that publishes ports in ingress mode is written: its ports must be free on the
   * team's routing mesh, and the team's ingress network exists (made on first use, as Swarm's is).
   */
  async ensureIngress(teamId: string, serviceId: string | null, spec: { endpoint: { ports: unknown } }): Promise<void> {
    const ports = ingressPorts(spec.endpoint.ports);
    if (!ports.length) return;
    for (const other of await this.ingressServices(teamId)) {
      if (other.id === serviceId) continue;
      const clash = other.ports.find((p) => ports.some((q) => q.published === p.published && q.protocol === p.protocol));
      if (clash) throw conflict(`port ${clash.published}/${clash.protocol} is already published in ingress mode by service ${other.name}`);
    }
    if (await this.db.overlayNetwork.findFirst({ where: { teamId, ingress: true } })) return;
    try {
      await this.create(teamId, { name: INGRESS_NETWORK, labels: { "berth.network.ingress": "true" } }, null, { ingress: true });
    } catch (e) {
      // Made meanwhile by another writer: fine. A user's network of that name is not a routing mesh.
      if (!(e instanceof DomainError && e.code === "CONFLICT")) throw e;
      if (!(await this.db.overlayNetwork.findFirst({ where: { teamId, ingress: true } })))
        throw conflict(
          `the team has a network named ${INGRESS_NETWORK} that is not its routing mesh: rename it to publish ports in ingress mode`,
        );
    }
  }

  /**
   * A host joins a network with no container of its own: the ingress network, whose published
   * ports every host opens. It gets its load-balancer endpoint (the source of its mesh traffic to
   * tasks on other hosts).
   */
  async join(hostId: string, req: AgentRequestParsed<"overlay.join">): Promise<{ network: OverlayNetworkState }> {
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true } });
    const net = host ? await this.db.overlayNetwork.findFirst({ where: { teamId: host.teamId, id: req.network } }) : null;
    if (!net) throw notFound(`network ${req.network}`);
    if (!net.ingress) throw forbidden(`network ${net.name} is joined by containers only`);
    await this.ensureLoadBalancer(net.id, hostId, req.vtep, parseSubnet4(net.subnet), parseIp4(net.gateway)!);
    this.emit("changed", net.id);
    return { network: (await this.state(net.id, true))! };
  }

  /** The highest free address of the subnet for a service's VIP (endpoints take the lowest). */
  private async allocateVip(n: NetworkRow, serviceId: string): Promise<string | null> {
    const subnet = parseSubnet4(n.subnet);
    const gateway = parseIp4(n.gateway)!;
    for (let attempt = 0; attempt < 5; attempt++) {
      const used = await this.usedAddresses(n.id);
      const { first, last } = hostRange(subnet);
      let ip: number | null = null;
      for (let c = last; c >= first; c--)
        if (c !== gateway && !used.has(c)) {
          ip = c;
          break;
        }
      if (ip === null) return null; // a full network: the service's name answers with its tasks instead
      try {
        await this.db.overlayVip.create({ data: { networkId: n.id, serviceId, ip: formatIp4(ip) } });
        return formatIp4(ip);
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        const existing = await this.db.overlayVip.findUnique({ where: { networkId_serviceId: { networkId: n.id, serviceId } } });
        if (existing) return existing.ip;
      }
    }
    return null;
  }

  /** The hosts of the network's team (each knows the network; those with an endpoint, its peers too). */
  async teamHosts(networkId: string): Promise<string[]> {
    const n = await this.db.overlayNetwork.findUnique({ where: { id: networkId }, select: { teamId: true } });
    return n ? this.hostsOfTeam(n.teamId) : [];
  }

  /** The overlay networks of a service's team; of every team for "*" (a service was removed: its VIPs went with it). */
  async networksOfServiceTeam(serviceId: string): Promise<string[]> {
    const svc = serviceId === "*" ? null : await this.db.service.findUnique({ where: { id: serviceId }, select: { teamId: true } });
    if (serviceId !== "*" && !svc) return [];
    const nets = await this.db.overlayNetwork.findMany({ where: svc ? { teamId: svc.teamId } : {}, select: { id: true } });
    return nets.map((n) => n.id);
  }

  async hostsOfTeam(teamId: string): Promise<string[]> {
    return (await this.db.host.findMany({ where: { teamId }, select: { id: true } })).map((h) => h.id);
  }

  /**
   * A container on `hostId` joins a network of the host's team: its address (the one asked for,
   * else the lowest free) and MAC. Joining again returns the same endpoint (its host's VTEP kept current).
   */
  async attach(hostId: string, req: AgentRequestParsed<"overlay.attach">) {
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true } });
    if (!host) throw notFound(`host ${hostId}`);
    const net =
      (await this.db.overlayNetwork.findFirst({ where: { teamId: host.teamId, id: req.network } })) ??
      (await this.db.overlayNetwork.findFirst({ where: { teamId: host.teamId, name: req.network } }));
    if (!net) throw notFound(`network ${req.network}`);
    const task = await this.taskOn(hostId, req.taskId, net.name);
    if (!net.attachable && !task) throw forbidden(`Could not attach to network ${net.name}: network ${net.name} not manually attachable`);
    const subnet = parseSubnet4(net.subnet);
    const gateway = parseIp4(net.gateway)!;
    let endpoint = await this.db.overlayEndpoint.findUnique({
      where: { networkId_containerId: { networkId: net.id, containerId: req.containerId } },
    });
    if (endpoint && (endpoint.hostId !== hostId || endpoint.vtep !== req.vtep || endpoint.name !== req.name))
      endpoint = await this.db.overlayEndpoint.update({
        where: { id: endpoint.id },
        data: { hostId, vtep: req.vtep, name: req.name, aliases: req.aliases },
      });
    for (let attempt = 0; !endpoint && attempt < 8; attempt++) {
      let ip: number | null;
      if (req.ip) {
        ip = parseIp4(req.ip);
        const { first, last } = hostRange(subnet);
        if (ip === null || !contains(subnet, ip) || ip < first || ip > last || ip === gateway)
          throw invalid(`address ${req.ip} is not a free host address of network ${net.name} (${net.subnet})`);
      } else {
        const used = await this.usedAddresses(net.id);
        if (used.size >= MAX_OVERLAY_ENDPOINTS) throw conflict(`network ${net.name} has ${MAX_OVERLAY_ENDPOINTS} endpoints, its most`);
        ip = lowestFreeAddress(subnet, gateway, used);
        if (ip === null) throw conflict(`no available IPv4 addresses on network ${net.name} (${net.subnet})`);
      }
      try {
        endpoint = await this.db.overlayEndpoint.create({
          data: {
            networkId: net.id,
            hostId,
            containerId: req.containerId,
            name: req.name,
            aliases: req.aliases,
            ip: formatIp4(ip),
            mac: macOf(ip),
            vtep: req.vtep,
            serving: req.serving,
            serviceId: task?.serviceId ?? null,
          },
        });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        if (req.ip) throw conflict(`address ${req.ip} is already in use on network ${net.name}`);
        // Another host took that address at the same moment: the next free one.
      }
    }
    if (!endpoint) throw new DomainError("UNAVAILABLE", `could not allocate an address on network ${net.name}: try again`);
    await this.ensureLoadBalancer(net.id, hostId, req.vtep, subnet, gateway);
    this.emit("changed", net.id);
    const state = (await this.state(net.id, true))!;
    return { network: state, endpoint: { ...endpointOf(endpoint), prefix: subnet.prefix } };
  }

  /** A container left a network: its address is free for the next endpoint, on any host. */
  async detach(hostId: string, req: AgentRequestParsed<"overlay.detach">): Promise<{ ok: true }> {
    const gone = await this.db.overlayEndpoint.deleteMany({ where: { networkId: req.networkId, containerId: req.containerId, hostId } });
    // The host's load balancer goes with its last container there, in one statement (no count
    // read first), so a container joining on that host meanwhile keeps it; see ensureLoadBalancer.
    await this.db.$executeRaw`
      delete from overlay_endpoint lb
      where lb."networkId" = ${req.networkId} and lb."hostId" = ${hostId} and lb.kind = 'lb'
        and not exists (select 1 from overlay_network n where n.id = lb."networkId" and n.ingress)
        and not exists (select 1 from overlay_endpoint c
                        where c."networkId" = lb."networkId" and c."hostId" = lb."hostId" and c.kind = 'container')`;
    if (gone.count) this.emit("changed", req.networkId);
    return { ok: true };
  }

  /**
   * Endpoints of a host whose container no longer runs there: it ended while the host was unlinked
   * (its detach never arrived). A report can be older than a join it crossed, so endpoints younger
   * than `graceMs` are left for the next report.
   */
  async dropStale(hostId: string, running: ReadonlySet<string>, graceMs = 60_000): Promise<void> {
    const mine = await this.db.overlayEndpoint.findMany({
      where: { hostId, kind: "container", createdAt: { lt: new Date(Date.now() - graceMs) } },
      select: { id: true, networkId: true, containerId: true },
    });
    const stale = mine.filter((e) => !running.has(e.containerId));
    if (!stale.length) return;
    await this.db.overlayEndpoint.deleteMany({ where: { id: { in: stale.map((e) => e.id) } } });
    for (const id of new Set(stale.map((e) => e.networkId))) this.emit("changed", id);
  }

  /** The task the container runs on this host, when its service's spec names the network. */
  private async taskOn(hostId: string, taskId: string | undefined, network: string): Promise<{ serviceId: string } | null> {
    if (!taskId) return null;
    const task = await this.db.task.findUnique({ where: { id: taskId }, select: { hostId: true, serviceId: true, version: true } });
    if (!task || task.hostId !== hostId) return null;
    const v = await this.db.serviceVersion.findUnique({
      where: { serviceId_version: { serviceId: task.serviceId, version: task.version } },
    });
    const spec = v?.spec as { task?: { networks?: { target?: string }[] }; endpoint?: { ports?: unknown } } | null;
    if (network === INGRESS_NETWORK && ingressPorts(spec?.endpoint?.ports).length) return { serviceId: task.serviceId };
    const nets = (spec?.task?.networks ?? []).map((n) => n.target);
    return nets.includes(network) ? { serviceId: task.serviceId } : null;
  }

  /** Addresses of the network taken by endpoints and VIPs. */
  private async usedAddresses(networkId: string): Promise<Set<number>> {
    const [eps, vips] = await Promise.all([
      this.db.overlayEndpoint.findMany({ where: { networkId }, select: { ip: true } }),
      this.db.overlayVip.findMany({ where: { networkId }, select: { ip: true } }),
    ]);
    return new Set([...eps, ...vips].map((u) => parseIp4(u.ip)!));
  }

  /**
   * The host's load-balancer endpoint on the network (one per host, made at its first container):
   * the source of its connections to service VIPs, so that replies from tasks on other hosts come back.
   */
  private async ensureLoadBalancer(networkId: string, hostId: string, vtep: string, subnet: Subnet4, gateway: number): Promise<void> {
    const containerId = `lb-${hostId}`;
    // A write, not a read: it waits for a detach's delete of the row to commit, and then finds it
    // gone and makes it again, where a read could see it just before it goes.
    const kept = await this.db.overlayEndpoint.updateMany({ where: { networkId, containerId }, data: { vtep } });
    if (kept.count) return;
    for (let attempt = 0; attempt < 8; attempt++) {
      const ip = lowestFreeAddress(subnet, gateway, await this.usedAddresses(networkId));
      if (ip === null) throw conflict("no address left on the network for this host's load balancer");
      try {
        await this.db.overlayEndpoint.create({
          data: { networkId, hostId, containerId, kind: "lb", name: containerId, ip: formatIp4(ip), mac: macOf(ip), vtep },
        });
        return;
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
      }
    }
  }

  /** A host failed to program a network of its team (`error`), or programmed it again (null). */
  async reportStatus(hostId: string, req: AgentRequestParsed<"overlay.status">): Promise<{ ok: true }> {
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true } });
    const net = host
      ? await this.db.overlayNetwork.findFirst({ where: { id: req.networkId, teamId: host.teamId }, select: { id: true } })
      : null;
    if (!net) throw notFound(`network ${req.networkId}`);
    const key = { networkId_hostId: { networkId: net.id, hostId } };
    if (req.error === null) await this.db.overlayHostError.deleteMany({ where: { networkId: net.id, hostId } });
    else
      await this.db.overlayHostError.upsert({
        where: key,
        create: { networkId: net.id, hostId, error: req.error },
        update: { error: req.error, at: new Date() },
      });
    return { ok: true };
  }

  /** The hosts that failed to program the network, with their errors, for its page. */
  async hostErrors(id: string) {
    return this.db.overlayHostError.findMany({
      where: { networkId: id },
      select: { error: true, at: true, host: { select: { id: true, name: true } } },
      orderBy: { at: "asc" },
    });
  }

  /** A container's health changed: its endpoints take traffic for its service, or stop taking it. */
  async setServing(hostId: string, req: AgentRequestParsed<"overlay.serving">): Promise<{ ok: true }> {
    const eps = await this.db.overlayEndpoint.findMany({ where: { hostId, containerId: req.containerId, serving: !req.serving } });
    if (eps.length) {
      await this.db.overlayEndpoint.updateMany({ where: { id: { in: eps.map((e) => e.id) } }, data: { serving: req.serving } });
      for (const id of new Set(eps.map((e) => e.networkId))) this.emit("changed", id);
    }
    return { ok: true };
  }
}

type EndpointRow = Prisma.OverlayEndpointGetPayload<object>;

/** The ingress-mode ports of a stored spec's endpoint.ports. */
function ingressPorts(raw: unknown): { published: number; target: number; protocol: "tcp" | "udp" }[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((p: { publishMode?: string; published?: number; target?: number; protocol?: string }) =>
    (p.publishMode ?? "ingress") === "ingress" && typeof p.published === "number" && typeof p.target === "number"
      ? [{ published: p.published, target: p.target, protocol: p.protocol === "udp" ? ("udp" as const) : ("tcp" as const) }]
      : [],
  );
}

function endpointOf(e: EndpointRow) {
  return {
    containerId: e.containerId,
    name: e.name,
    aliases: e.aliases,
    ip: e.ip,
    mac: e.mac,
    hostId: e.hostId,
    vtep: e.vtep,
    kind: e.kind === "lb" ? ("lb" as const) : ("container" as const),
    serving: e.serving,
    ...(e.serviceId ? { serviceId: e.serviceId } : {}),
  };
}

function stateOf(
  n: NetworkRow,
  endpoints: EndpointRow[] | undefined,
  services: OverlayNetworkState["services"],
  mesh: OverlayNetworkState["mesh"],
): OverlayNetworkState {
  return {
    id: n.id,
    name: n.name,
    vni: n.vni,
    revision: n.revision,
    subnet: n.subnet,
    gateway: n.gateway,
    internal: n.internal,
    attachable: n.attachable,
    encrypted: n.encrypted,
    ingress: n.ingress,
    labels: n.labels as Record<string, string>,
    created: n.createdAt.toISOString(),
    services,
    mesh,
    ...(endpoints ? { endpoints: endpoints.map(endpointOf) } : {}),
  };
}
