import { createSocket, type Socket } from "node:dgram";
import { connect, createServer, type Server } from "node:net";
import type { HostConfig } from "@berth/protocol";
import { ANY, formatAddress, tryParseAddress } from "./addr.ts";

/*
 * Published ports (`-p`, `-P`). The kernel forwards them (nftables DNAT, see nft-rules.ts); the
 * agent also holds a socket on each host port, so no other program can take a port a container
 * publishes, and a port something else holds is refused up front with a clear error rather than
 * silently shadowed by the DNAT.
 *
 * A container with an IPv6 address is published on both families, as dockerd does: a binding
 * without a host address is `0.0.0.0` and `::`, on the same host port. The IPv6 loopback cannot be
 * DNATed (the kernel has no route_localnet for IPv6), so the `::`/`::1` TCP socket relays the
 * connections that reach it (those to ::1) to the container, as docker-proxy does.
 */

import { PortError } from "./errors.ts";

export interface PortMapping {
  proto: "tcp" | "udp";
  containerPort: number;
  /** "0.0.0.0" (or "::") for every address of the host (of that family). */
  hostIp: string;
  hostPort: number;
  /** The `::` twin of the mapping before it (a binding without a host address): the same host port as that one. */
  pair?: true;
}

/** Where the IPv6 loopback's connections to a published port go: the container's IPv6 address. */
export interface RelayTarget {
  v6?: string;
}

/** Connections one relayed port carries at once. */
const MAX_RELAYED = 256;

/** Docker's ephemeral range for random host ports. */
const RANDOM_FIRST = 32768;
const RANDOM_LAST = 60999;

/**
 * The mappings a container asks for: PortBindings, and with PublishAllPorts every exposed port to
 * a random port. `ipv6`: whether the container has an IPv6 address to forward to (at its start);
 * unknown (undefined) at create, where only the syntax is checked.
 */
export function requestedPorts(host: HostConfig, exposed: string[], opts: { ipv6?: boolean } = {}): PortMapping[] {
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
      const given = (b.HostIp ?? "").replace(/^\[(.*)\]$/, "$1");
      const parsed = given ? tryParseAddress(given) : null;
      if (given && !parsed) throw new PortError(`invalid IP address: ${b.HostIp}`, "INVALID");
      if (parsed?.family === 6 && opts.ipv6 === false)
        throw new PortError(
          `cannot publish on IPv6 address ${given}: the container has no IPv6 address (its network needs --ipv6)`,
          "INVALID",
        );
      const hostPort = b.HostPort ? Number(b.HostPort) : 0;
      if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535)
        throw new PortError(`invalid hostPort: ${b.HostPort}`, "INVALID");
      const base = { proto: proto as "tcp" | "udp", containerPort, hostPort };
      out.push({ ...base, hostIp: parsed ? formatAddress(parsed) : ANY[4] });
      if (!parsed && opts.ipv6) out.push({ ...base, hostIp: ANY[6], pair: true });
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
  async reserveAll(mappings: PortMapping[], relay: RelayTarget = {}): Promise<PortMapping[]> {
    const done: PortMapping[] = [];
    try {
      for (let i = 0; i < mappings.length; i++) {
        const m = mappings[i]!;
        const twin = mappings[i + 1]?.pair ? mappings[i + 1] : undefined;
        if (m.hostPort) done.push(await this.reserve(m, relay));
        else if (twin && !twin.hostPort) {
          done.push(...(await this.reserveRandom([m, twin], relay)));
          i++;
        } else done.push(...(await this.reserveRandom([m], relay)));
      }
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

  /** One random port of Docker's ephemeral range for all of `ms` (a mapping and its `::` twin). */
  private async reserveRandom(ms: PortMapping[], relay: RelayTarget): Promise<PortMapping[]> {
    const span = RANDOM_LAST - RANDOM_FIRST + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < 200; i++) {
      const port = RANDOM_FIRST + ((start + i) % span);
      const got: PortMapping[] = [];
      try {
        for (const m of ms) got.push(await this.reserve({ ...m, hostPort: port }, relay));
        return got;
      } catch {
        // taken; try the next one
        for (const m of got) this.release(m);
      }
    }
    const m = ms[0]!;
    throw new PortError(`no free host port for ${m.containerPort}/${m.proto} in ${RANDOM_FIRST}-${RANDOM_LAST}`, "CONFLICT");
  }

  private async reserve(m: PortMapping, relay: RelayTarget): Promise<PortMapping> {
    const k = this.key(m);
    const v6 = m.hostIp.includes(":");
    const any = ANY[v6 ? 6 : 4];
    // Another container's: Docker's wording for a port it has handed out itself. Each family's wildcard covers that family.
    const clash = [...this.held.keys()].some((h) => {
      const [p, ip = "", port] = h.split("/");
      if (p !== m.proto || Number(port) !== m.hostPort || ip.includes(":") !== v6) return false;
      return ip === m.hostIp || ip === any || m.hostIp === any;
    });
    if (clash) throw new PortError(`Bind for ${m.hostIp}:${m.hostPort} failed: port is already allocated`, "CONFLICT");
    // The IPv6 loopback's connections reach this socket (they cannot be DNATed): relayed to the container.
    const to = v6 && relay.v6 && (m.hostIp === "::" || m.hostIp === "::1") ? { host: relay.v6, port: m.containerPort } : undefined;
    const sock = await (m.proto === "tcp" ? listenTcp(m.hostIp, m.hostPort, to) : bindUdp(m.hostIp, m.hostPort)).catch(
      (e: NodeJS.ErrnoException) => {
        const why = e.code === "EADDRINUSE" ? "address already in use" : e.message;
        throw new PortError(`failed to bind host port ${m.hostIp}:${m.hostPort}/${m.proto}: ${why}`, "CONFLICT");
      },
    );
    this.held.set(k, sock);
    return m;
  }
}

/** Holds a TCP port; with `relay`, the connections it accepts are carried to that address (else closed at once). */
function listenTcp(host: string, port: number, relay?: { host: string; port: number }): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => {
      if (!relay) {
        c.destroy();
        return;
      }
      const up = connect({ host: relay.host, port: relay.port });
      const close = () => {
        c.destroy();
        up.destroy();
      };
      c.on("error", close);
      up.on("error", close);
      // pipe() keeps to each side's pace (nothing is buffered past the sockets' high-water marks) and passes each end on.
      c.pipe(up);
      up.pipe(c);
    });
    if (relay) s.maxConnections = MAX_RELAYED;
    s.once("error", reject);
    s.listen({ host, port, exclusive: true, ipv6Only: host.includes(":") }, () => resolve(s));
  });
}

function bindUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const v6 = host.includes(":");
    const s = v6 ? createSocket({ type: "udp6", ipv6Only: true }) : createSocket("udp4");
    s.once("error", reject);
    s.bind({ address: host, port, exclusive: true }, () => resolve(s));
  });
}
