import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import * as packet from "dns-packet";

/*
 * The embedded DNS of user-defined networks. One server per network listens on the network's
 * gateway address (UDP and TCP, port 53) in the agent's namespace, and containers on that network
 * use it as their resolver. It answers the names of the network's running containers (name,
 * aliases, short ID), only to that network, and forwards every other question to the host's
 * resolvers. (Docker listens on 127.0.0.11 inside each container; the gateway address gives the
 * same answers without entering every container's namespace.)
 */

/** IPv4 addresses of `name` on network `networkId`, or null when no container there has that name. */
export type NetworkResolver = (networkId: string, name: string) => string[] | null;

const TTL = 600;
const FORWARD_TIMEOUT_MS = 2000;

interface Listener {
  udp: Socket;
  tcp: Server;
}

export class EmbeddedDns {
  private readonly listeners = new Map<string, Listener>();

  constructor(
    private readonly resolve: NetworkResolver,
    /** `ip` or `ip:port` of the resolvers unknown names go to. */
    private readonly upstreams: () => string[],
  ) {}

  async listen(networkId: string, address: string): Promise<void> {
    if (this.listeners.has(networkId)) return;
    const udp = createSocket({ type: "udp4", reuseAddr: true });
    udp.on("message", (msg, rinfo) => {
      void this.answer(networkId, msg).then((reply) => {
        if (reply) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    udp.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(53, address, () => resolve());
    });
    const tcp = createServer((conn) => {
      let buf = Buffer.alloc(0);
      conn.on("error", () => conn.destroy());
      conn.setTimeout(10_000, () => conn.destroy());
      conn.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          void this.answer(networkId, msg).then((reply) => {
            if (!reply) return;
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
      tcp.listen(53, address, () => resolve());
    }).catch((e: unknown) => {
      udp.close();
      throw e;
    });
    this.listeners.set(networkId, { udp, tcp });
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

  /** The reply to one query: local names answered here, others forwarded; null for garbage. */
  private async answer(networkId: string, msg: Buffer): Promise<Buffer | null> {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return null;
    }
    const q = query.questions?.[0];
    if (!q || query.type !== "query") return null;
    const name = q.name.replace(/\.$/, "").toLowerCase();
    const local = this.resolve(networkId, name);
    if (local) {
      const answers = q.type === "A" || (q.type as string) === "ANY" ? local.map((data) => ({ type: "A" as const, name: q.name, ttl: TTL, class: "IN" as const, data })) : [];
      return packet.encode({ id: query.id, type: "response", flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | packet.AUTHORITATIVE_ANSWER, questions: [q], answers });
    }
    const forwarded = await this.forward(msg);
    if (forwarded) return forwarded;
    return packet.encode({ id: query.id, type: "response", flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | 2 /* SERVFAIL */, questions: [q] });
  }

  /** Asks the upstream resolvers in turn; the first answer wins. */
  private async forward(msg: Buffer): Promise<Buffer | null> {
    for (const up of this.upstreams()) {
      const [host, port = "53"] = up.split(":") as [string, string?];
      const reply = await new Promise<Buffer | null>((resolve) => {
        const s = createSocket("udp4");
        const timer = setTimeout(() => {
          s.close();
          resolve(null);
        }, FORWARD_TIMEOUT_MS);
        s.on("error", () => {
          clearTimeout(timer);
          s.close();
          resolve(null);
        });
        s.on("message", (m) => {
          clearTimeout(timer);
          s.close();
          resolve(m);
        });
        s.send(msg, Number(port), host);
      });
      if (reply) return reply;
    }
    return null;
  }
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
