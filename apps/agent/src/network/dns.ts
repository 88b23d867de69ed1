import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, isIP, type Server } from "node:net";
import * as packet from "dns-packet";
import { contains, parseCidr, parseIp, type Cidr } from "./cidr.ts";

/*
 * The embedded DNS of user-defined networks. One server per network listens on the network's
 * gateway address (UDP and TCP, port 53) in the agent's namespace, and containers on that network
 * use it as their resolver. It answers the names of containers the asking container shares a
 * network with (see NetworkService.resolveName), and forwards every other question to the host's
 * resolvers. (Docker listens on 127.0.0.11 inside each container; the gateway address gives the
 * same answers without entering every container's namespace.)
 *
 * The gateway address is a local address of the host, so anyone routed to the host could ask it:
 * queries from outside the network's subnet get no answer at all. Silence rather than REFUSED:
 * the server is for that subnet only, and not answering makes it useless as a reflector for
 * spoofed UDP sources and tells a scanner nothing; a container of the network is never refused.
 * Forwarded queries are capped per network, so a container cannot make the agent hold unbounded
 * sockets and timers: past the cap, SERVFAIL at once (the client retries or gives up, as with a
 * busy resolver).
 */

/** A container name's addresses: IPv4, and IPv6 where its network has IPv6. */
export interface Resolved {
  v4: string[];
  v6: string[];
}

/**
 * Addresses of `name` for a query on network `networkId` from address `from`, or null when no
 * container the asker may see has that name. A name that has addresses of the other family only
 * is answered with no records (NODATA), not NXDOMAIN, as Docker's DNS answers: the name exists.
 */
export type NetworkResolver = (networkId: string, name: string, from: string) => Resolved | null;

export interface EmbeddedDnsOptions {
  /** 53 unless a test says otherwise. */
  port?: number;
  /** Forwarded queries in flight per network; more get SERVFAIL at once. */
  maxForwards?: number;
  /** How long one upstream gets to answer. */
  forwardTimeoutMs?: number;
}

const TTL = 600;
const FORWARD_TIMEOUT_MS = 2000;
/** About 50 queries a second per network even with every upstream dead; far more with live ones. */
const MAX_FORWARDS = 100;
/** TCP clients per network, and what one may leave unread, so a slow reader holds no unbounded buffer. */
const MAX_TCP_CONNECTIONS = 32;
const MAX_TCP_UNREAD = 64 * 1024;
const SERVFAIL = 2;

interface Listener {
  udp: Socket;
  tcp: Server;
  subnet: Cidr;
  /** Forwarded queries awaiting an upstream. */
  inFlight: number;
}

/** A peer address as Node reports it (IPv4, or IPv4-mapped IPv6), inside `subnet`? */
function inSubnet(subnet: Cidr, address: string | undefined): boolean {
  if (!address) return false;
  try {
    return contains(subnet, parseIp(address.replace(/^::ffff:/i, "")));
  } catch {
    return false;
  }
}

export class EmbeddedDns {
  private readonly listeners = new Map<string, Listener>();
  private readonly port: number;
  private readonly maxForwards: number;
  private readonly forwardTimeoutMs: number;

  constructor(
    private readonly resolve: NetworkResolver,
    /** The resolvers unknown names from one asker go to: `ip`, `ip:port`, or `[v6]:port`. */
    private readonly upstreams: (networkId: string, from: string) => string[],
    opts: EmbeddedDnsOptions = {},
  ) {
    this.port = opts.port ?? 53;
    this.maxForwards = opts.maxForwards ?? MAX_FORWARDS;
    this.forwardTimeoutMs = opts.forwardTimeoutMs ?? FORWARD_TIMEOUT_MS;
  }

  /** Serves network `networkId` on `address` (its gateway), for clients inside `subnet` only. */
  async listen(networkId: string, address: string, subnet: string): Promise<void> {
    if (this.listeners.has(networkId)) return;
    const l: Listener = {
      udp: createSocket({ type: "udp4", reuseAddr: true }),
      tcp: createServer(),
      subnet: parseCidr(subnet),
      inFlight: 0,
    };
    const { udp, tcp } = l;
    udp.on("message", (msg, rinfo) => {
      if (!inSubnet(l.subnet, rinfo.address)) return;
      void this.answer(networkId, l, msg, rinfo.address).then((reply) => {
        if (!reply) return;
        try {
          udp.send(reply, rinfo.port, rinfo.address);
        } catch {
          // The network went while an upstream answer was awaited: its socket is closed, the asker gone.
        }
      });
    });
    udp.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(this.port, address, () => resolve());
    });
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    tcp.on("connection", (conn) => {
      const from = (conn.remoteAddress ?? "").replace(/^::ffff:/i, "");
      if (!inSubnet(l.subnet, from)) {
        conn.destroy();
        return;
      }
      let buf = Buffer.alloc(0);
      conn.on("error", () => conn.destroy());
      conn.setTimeout(10_000, () => conn.destroy());
      conn.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          void this.answer(networkId, l, msg, from).then((reply) => {
            if (!reply || conn.destroyed) return;
            if (conn.writableLength > MAX_TCP_UNREAD) {
              conn.destroy();
              return;
            }
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            conn.write(Buffer.concat([len, reply]));
          });
        }
        if (buf.length > 70_000) conn.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(this.port, address, () => resolve());
    }).catch((e: unknown) => {
      udp.close();
      throw e;
    });
    this.listeners.set(networkId, l);
  }

  close(networkId: string): void {
    const l = this.listeners.get(networkId);
    this.listeners.delete(networkId);
    l?.udp.close();
    l?.tcp.close();
  }

  closeAll(): void {
    for (const id of [...this.listeners.keys()]) this.close(id);
  }

  /** The reply to one query from `from`: known names answered here, others forwarded; null for garbage. */
  private async answer(networkId: string, l: Listener, msg: Buffer, from: string): Promise<Buffer | null> {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return null;
    }
    const q = query.questions?.[0];
    if (!q || query.type !== "query") return null;
    const name = q.name.replace(/\.$/, "").toLowerCase();
    const local = this.resolve(networkId, name, from);
    if (local) {
      const any = (q.type as string) === "ANY";
      const answers = [
        ...(q.type === "A" || any
          ? local.v4.map((data) => ({ type: "A" as const, name: q.name, ttl: TTL, class: "IN" as const, data }))
          : []),
        ...(q.type === "AAAA" || any
          ? local.v6.map((data) => ({ type: "AAAA" as const, name: q.name, ttl: TTL, class: "IN" as const, data }))
          : []),
      ];
      return packet.encode({
        id: query.id,
        type: "response",
        flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | packet.AUTHORITATIVE_ANSWER,
        questions: [q],
        answers,
      });
    }
    const servfail = () =>
      packet.encode({
        id: query.id,
        type: "response",
        flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | SERVFAIL,
        questions: [q],
      });
    if (l.inFlight >= this.maxForwards) return servfail();
    l.inFlight++;
    try {
      return (await this.forward(msg, this.upstreams(networkId, from))) ?? servfail();
    } finally {
      l.inFlight--;
    }
  }

  /** Asks the upstream resolvers in turn; the first answer (from that resolver, to this query) wins. */
  private async forward(msg: Buffer, upstreams: string[]): Promise<Buffer | null> {
    for (const up of upstreams) {
      const { host, port } = hostPort(up);
      const family = isIP(host);
      if (!family) continue;
      const reply = await new Promise<Buffer | null>((resolve) => {
        const s = createSocket(family === 6 ? "udp6" : "udp4");
        const done = (m: Buffer | null) => {
          clearTimeout(timer);
          s.close();
          resolve(m);
        };
        const timer = setTimeout(() => done(null), this.forwardTimeoutMs);
        s.on("error", () => done(null));
        s.on("message", (m, r) => {
          // Anything else reaching this port is not the answer (a spoofing attempt, or stray).
          if (r.address === host && r.port === Number(port) && m.length >= 2 && m.readUInt16BE(0) === msg.readUInt16BE(0)) done(m);
        });
        s.send(msg, Number(port), host);
      });
      if (reply) return reply;
    }
    return null;
  }
}

/** `ip`, `ip:port`, a bare IPv6 address or `[v6]:port`. */
function hostPort(up: string): { host: string; port: string } {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(up);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ?? "53" };
  if (isIP(up) === 6) return { host: up, port: "53" };
  const [host = "", port = "53"] = up.split(":") as [string, string?];
  return { host, port };
}

/** The nameservers of the agent's own resolv.conf. */
export function hostResolvers(): string[] {
  try {
    return readFileSync("/etc/resolv.conf", "utf8")
      .split("\n")
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
      .filter((x): x is string => Boolean(x));
  } catch {
    return [];
  }
}
