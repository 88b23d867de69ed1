import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";
import type { HostConfig } from "@berth/protocol";
import { parseIp } from "./cidr.ts";

/*
 * Published ports (`-p`, `-P`). The kernel forwards them (nftables DNAT, see nft-rules.ts); the
 * agent also holds a socket on each host port, so no other program can take a port a container
 * publishes, and a port something else holds is refused up front with a clear error rather than
 * silently shadowed by the DNAT.
 */

import { PortError } from "./errors.ts";

export interface PortMapping {
  proto: "tcp" | "udp";
  containerPort: number;
  /** "0.0.0.0" for every address of the host. */
  hostIp: string;
  hostPort: number;
}

/** Docker's ephemeral range for random host ports. */
const RANDOM_FIRST = 32768;
const RANDOM_LAST = 60999;

/** The mappings a container asks for: PortBindings, and with PublishAllPorts every exposed port to a random port. */
export function requestedPorts(host: HostConfig, exposed: string[]): PortMapping[] {
  const out: PortMapping[] = [];
  const bindings = { ...(host.PortBindings ?? {}) };
  if (host.PublishAllPorts)
    for (const p of exposed) if (!(p in bindings) && !(`${p}/tcp` in bindings)) bindings[p] = [{ HostIp: "", HostPort: "" }];
  for (const [key, list] of Object.entries(bindings)) {
    const [port, proto = "tcp"] = key.split("/") as [string, string?];
    const containerPort = Number(port);
    if (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535)
      throw new PortError(`invalid containerPort: ${port}`, "INVALID");
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp || "0.0.0.0";
      try {
        parseIp(hostIp);
      } catch {
        throw new PortError(`invalid IP address: ${hostIp} (only IPv4 is published)`, "INVALID");
      }
      const hostPort = b.HostPort ? Number(b.HostPort) : 0;
      if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535)
        throw new PortError(`invalid hostPort: ${b.HostPort}`, "INVALID");
      out.push({ proto: proto as "tcp" | "udp", containerPort, hostIp, hostPort });
    }
  }
  return out;
}

/** Sockets that hold the host ports of running containers. */
export class PortReservations {
  private readonly held = new Map<string, Server | Socket>();

  private key(m: { proto: string; hostIp: string; hostPort: number }): string {
    return `${m.proto}/${m.hostIp}/${m.hostPort}`;
  }

  /**
   * Reserves every mapping (a random port where hostPort is 0) or none: on any failure the ones
   * already taken are released and the error names the port, as Docker's does.
   */
  async reserveAll(mappings: PortMapping[]): Promise<PortMapping[]> {
    const done: PortMapping[] = [];
    try {
      for (const m of mappings) done.push(m.hostPort ? await this.reserve(m) : await this.reserveRandom(m));
      return done;
    } catch (e) {
      for (const m of done) this.release(m);
      throw e;
    }
  }

  release(m: PortMapping): void {
    const k = this.key(m);
    const s = this.held.get(k);
    this.held.delete(k);
    s?.close();
  }

  closeAll(): void {
    for (const s of this.held.values()) s.close();
    this.held.clear();
  }

  private async reserveRandom(m: PortMapping): Promise<PortMapping> {
    const span = RANDOM_LAST - RANDOM_FIRST + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < 200; i++) {
      const port = RANDOM_FIRST + ((start + i) % span);
      try {
        return await this.reserve({ ...m, hostPort: port });
      } catch {
        // taken; try the next one
      }
    }
    throw new PortError(`no free host port for ${m.containerPort}/${m.proto} in ${RANDOM_FIRST}-${RANDOM_LAST}`, "CONFLICT");
  }

  private async reserve(m: PortMapping): Promise<PortMapping> {
    const k = this.key(m);
    // Another container's: Docker's wording for a port it has handed out itself.
    const clash = [...this.held.keys()].some((h) => {
      const [p, ip, port] = h.split("/");
      return p === m.proto && Number(port) === m.hostPort && (ip === m.hostIp || ip === "0.0.0.0" || m.hostIp === "0.0.0.0");
    });
    if (clash) throw new PortError(`Bind for ${m.hostIp}:${m.hostPort} failed: port is already allocated`, "CONFLICT");
    const sock = await (m.proto === "tcp" ? listenTcp(m.hostIp, m.hostPort) : bindUdp(m.hostIp, m.hostPort)).catch(
      (e: NodeJS.ErrnoException) => {
        const why = e.code === "EADDRINUSE" ? "address already in use" : e.message;
        throw new PortError(`failed to bind host port ${m.hostIp}:${m.hostPort}/${m.proto}: ${why}`, "CONFLICT");
      },
    );
    this.held.set(k, sock);
    return m;
  }
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.destroy());
    s.once("error", reject);
    s.listen({ host, port, exclusive: true }, () => resolve(s));
  });
}

function bindUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind({ address: host, port, exclusive: true }, () => resolve(s));
  });
}
