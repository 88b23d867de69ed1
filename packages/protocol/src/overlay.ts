import { z } from "zod";

/*
 * Overlay networks between the control plane and the agents. The control plane is the source of
 * truth: it sends each host the team's overlay networks, and for every network the host has an
 * endpoint on, all of its endpoints (address, MAC, the VTEP of their host). The agent programs its
 * VXLAN forwarding and neighbour entries, and answers names on the network, from these only.
 */

const Ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, "an IPv4 address");
const Cidr4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/\d{1,2}$/, "an IPv4 subnet");
const Mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, "a MAC address in lower case");
/** A container name or alias: a DNS name, as the Docker API's aliases. */
const DnsName = z.string().min(1).max(256);

export const OverlayEndpointSchema = z.object({
  containerId: z.string().min(1).max(128),
  name: DnsName,
  aliases: z.array(DnsName).max(64),
  ip: Ipv4,
  mac: Mac,
  hostId: z.string().min(1).max(64),
  /** The underlay address of the endpoint's host, where its VXLAN packets go. */
  vtep: Ipv4,
  /** container, or lb: a host's own address on the network, the source of its traffic to service VIPs. */
  kind: z.enum(["container", "lb"]).default("container"),
  /** The service whose task the container runs. */
  serviceId: z.string().max(64).optional(),
  /** Whether it takes traffic for its service: running, and healthy when it has a health check. */
  serving: z.boolean().default(true),
});
export type OverlayEndpoint = z.infer<typeof OverlayEndpointSchema>;

/** A WireGuard public key: 32 bytes, base64 (an x25519 public key). */
export const WireguardKeySchema = z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, "a WireGuard public key (32 bytes, base64)");

/** One host of an encrypted network's WireGuard mesh: only its public key ever leaves it. */
export const MeshPeerSchema = z.object({
  hostId: z.string().min(1).max(64),
  publicKey: WireguardKeySchema,
  /** Its tunnel address: the VTEP its encrypted networks' VXLAN packets go to. */
  address: Ipv4,
  /** Its underlay address and WireGuard's UDP port there. */
  endpoint: Ipv4,
  port: z.number().int().min(1).max(65_535),
});
export type MeshPeer = z.infer<typeof MeshPeerSchema>;

/** The most endpoints one network carries (a /20 of tasks); bounds every message about one network. */
export const MAX_OVERLAY_ENDPOINTS = 4096;

export const OverlayNetworkStateSchema = z.object({
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(256),
  vni: z.number().int().min(1).max(16_777_215),
  /** Grows with every state the control plane sends of the network: an older one than the host has is ignored. */
  revision: z.number().int().nonnegative(),
  subnet: Cidr4,
  gateway: Ipv4,
  internal: z.boolean(),
  attachable: z.boolean(),
  encrypted: z.boolean(),
  /** The routing mesh's network: every host joins it while a service publishes a port on it. */
  ingress: z.boolean().default(false),
  labels: z.record(z.string().max(1024), z.string().max(4096)),
  created: z.string().max(64),
  /** Encrypted networks: the mesh peers of the hosts with endpoints on it (present with `endpoints`). */
  mesh: z.array(MeshPeerSchema).max(MAX_OVERLAY_ENDPOINTS).default([]),
  /** Every endpoint of the network, on any host; present for the networks the host has an endpoint on. */
  endpoints: z.array(OverlayEndpointSchema).max(MAX_OVERLAY_ENDPOINTS).optional(),
  /** The services attached to the network: their names answer on it (their VIP, or their serving tasks' addresses). */
  services: z
    .array(
      z.object({
        id: z.string().min(1).max(64),
        name: DnsName,
        mode: z.enum(["vip", "dnsrr"]),
        /** Its virtual address on this network (vip mode). */
        vip: Ipv4.nullable(),
        /** On the ingress network: the ports every host opens for it. */
        ports: z
          .array(
            z.object({
              published: z.number().int().min(1).max(65_535),
              target: z.number().int().min(1).max(65_535),
              protocol: z.enum(["tcp", "udp"]),
            }),
          )
          .max(256)
          .default([]),
      }),
    )
    .max(MAX_OVERLAY_ENDPOINTS)
    .default([]),
});
export type OverlayNetworkState = z.infer<typeof OverlayNetworkStateSchema>;

/** The `overlay.sync` command: networks to know (`full`: these and no others), each replacing what the agent had. */
export const OverlaySyncArgsSchema = z.object({
  full: z.boolean(),
  networks: z.array(OverlayNetworkStateSchema).max(1024),
  /** Networks removed since (a partial sync). */
  removed: z.array(z.string().min(1).max(64)).max(1024).default([]),
});
export type OverlaySyncArgs = z.input<typeof OverlaySyncArgsSchema>;
/** The command's arguments as the agent has them, checked and with defaults filled in. */
export type OverlaySyncParsed = z.output<typeof OverlaySyncArgsSchema>;

/*
 * Requests an agent makes of the control plane (RequestFrame), answered with an AnswerFrame of
 * the same id: their argument and answer schemas. The control plane checks the arguments, the
 * agent the answer.
 */
export const AgentRequestArgs = {
  /** A container on this host joins an overlay network: the control plane gives it an address. */
  "overlay.attach": z.object({
    /** The network's name or id, as the container's config names it. */
    network: z.string().min(1).max(256),
    containerId: z.string().min(1).max(128),
    name: DnsName,
    aliases: z.array(DnsName).max(64).default([]),
    /** A static address asked for (IPAMConfig.IPv4Address). */
    ip: Ipv4.optional(),
    /** The task the container runs, for a service's network that is not attachable. */
    taskId: z.string().max(64).optional(),
    /** false until a container with a health check is healthy: it takes no traffic before. */
    serving: z.boolean().default(true),
    /** This host's underlay address (the one its link to the control plane leaves from). */
    vtep: Ipv4,
  }),
  /** A container left an overlay network (it stopped, or was disconnected). */
  "overlay.detach": z.object({ networkId: z.string().min(1).max(64), containerId: z.string().min(1).max(128) }),
  /** This host joins a network without a container (the ingress network, whose published ports every host opens). */
  "overlay.join": z.object({ network: z.string().min(1).max(64), vtep: Ipv4 }),
  /** A container's health changed: its endpoints on every overlay network take traffic, or stop taking it. */
  "overlay.serving": z.object({ containerId: z.string().min(1).max(128), serving: z.boolean() }),
  /**
   * This host takes part in encrypted networks: its WireGuard public key and where it listens. The
   * control plane keeps them (a new key or endpoint replaces the old) and gives it its tunnel address.
   */
  "overlay.mesh": z.object({ publicKey: WireguardKeySchema, endpoint: Ipv4, port: z.number().int().min(1).max(65_535) }),
  /** Programming a network on this host failed (the error), or works again (null): shown on the network's page. */
  "overlay.status": z.object({ networkId: z.string().min(1).max(64), error: z.string().min(1).max(2000).nullable() }),
} as const;
export type AgentRequestName = keyof typeof AgentRequestArgs;
export type AgentRequestInput<R extends AgentRequestName> = z.input<(typeof AgentRequestArgs)[R]>;
export type AgentRequestParsed<R extends AgentRequestName> = z.output<(typeof AgentRequestArgs)[R]>;

export const AgentRequestAnswers = {
  "overlay.attach": z.object({
    network: OverlayNetworkStateSchema,
    endpoint: OverlayEndpointSchema.extend({ prefix: z.number().int().min(1).max(30) }),
  }),
  "overlay.detach": z.object({ ok: z.literal(true) }),
  "overlay.serving": z.object({ ok: z.literal(true) }),
  "overlay.join": z.object({ network: OverlayNetworkStateSchema }),
  /** The host's tunnel address, and the mesh subnet's prefix length (the route the tunnel interface carries). */
  "overlay.mesh": z.object({ address: Ipv4, prefix: z.number().int().min(8).max(30) }),
  "overlay.status": z.object({ ok: z.literal(true) }),
} as const satisfies Record<AgentRequestName, z.ZodType>;
export type AgentRequestAnswer<R extends AgentRequestName> = z.output<(typeof AgentRequestAnswers)[R]>;
export type AgentRequestAnswerInput<R extends AgentRequestName> = z.input<(typeof AgentRequestAnswers)[R]>;
