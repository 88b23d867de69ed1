import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { dirname, join } from "node:path";
import type { Db } from "@berth/db";
import type { Logger } from "@berth/core";
import { type ClusterIdentity, createFleetDockerHandler, type Context, type FleetDockerHandler } from "@berth/api";
import type { Env } from "./env.ts";
import { isLoopbackHost, type TlsIdentity } from "./tls.ts";

/*
 * Where the fleet's Docker API listens: a TCP port on the control plane's host, with TLS (its
 * certificate) unless the control plane itself serves plain HTTP on loopback or behind a proxy,
 * and a unix socket for the machine's admins. Both ask every caller for an API token; over TLS a
 * client certificate Berth issued to a user does instead.
 */

export interface DockerEndpoint {
  /** host:port of the TCP listener. */
  tcpAddress: string;
  socketPath: string;
  /** What a `docker context create --docker host=…` names: tcp://host:port. */
  dockerHost: string;
  close(): Promise<void>;
}

/** Swarm-style IDs (25 characters, [a-z0-9]) that stay the same for the install. */
function stableId(seed: string): string {
  return BigInt(`0x${createHash("sha256").update(seed).digest("hex")}`)
    .toString(36)
    .slice(0, 25)
    .padStart(25, "0");
}

export async function clusterIdentity(db: Db, env: Env, managerAddr: string): Promise<ClusterIdentity> {
  // The oldest team is the install's: its id seeds the cluster's and the manager's IDs.
  const first = await db.team.findFirst({ orderBy: { createdAt: "asc" }, select: { id: true, createdAt: true } });
  const seed = first?.id ?? env.PUBLIC_URL;
  return {
    clusterId: stableId(`cluster:${seed}`),
    managerId: stableId(`manager:${seed}`),
    managerAddr,
    createdAt: first?.createdAt ?? new Date(),
    version: process.env.npm_package_version ?? "0.1.0",
  };
}

function listen(server: Server, target: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    if ("path" in target) server.listen(target.path, () => resolve());
    else server.listen(target.port, target.host, () => resolve());
  });
}

export async function startDockerEndpoint(o: {
  env: Env;
  db: Db;
  tls: TlsIdentity | null;
  contextFor: (req: IncomingMessage) => Promise<Context>;
  /** The authority of users' client certificates: the TLS listener asks for one and checks it against this. */
  clientCaPem: string | null;
  logger: Logger;
}): Promise<DockerEndpoint> {
  const { env } = o;
  let cluster: ClusterIdentity | null = null;
  let handle: FleetDockerHandler | null = null;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void handle!.request(req, res).catch((err) => {
      o.logger.error({ err }, "fleet Docker API request failed");
      res.destroy();
    });
  };
  // exec start asks to upgrade the connection (the CLI's hijack).
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void handle!.upgrade(req, socket, head).catch((err) => {
      o.logger.error({ err }, "fleet Docker API upgrade failed");
      socket.destroy();
    });
  };
  // Plain TCP only where the control plane itself may serve plain HTTP (loopback, or the operator's explicit flag).
  const plainAllowed = isLoopbackHost(env.HOST) || env.BERTH_INSECURE_HTTP === "1";
  if (!o.tls && !plainAllowed) throw new Error("the fleet Docker API needs the control plane's TLS certificate");
  // A client certificate is asked for but not required (a token works too); one that is presented
  // must chain to the authority, and the caller's context then checks it is issued and not revoked.
  const tcp = o.tls
    ? createHttpsServer(
        {
          cert: o.tls.cert,
          key: o.tls.key,
          ...(o.clientCaPem ? { ca: [o.clientCaPem], requestCert: true, rejectUnauthorized: false } : {}),
        },
        handler,
      )
    : createServer(handler);
  tcp.on("clientError", (_e, socket) => socket.destroy());
  tcp.on("upgrade", upgrade);
  const unix = createServer(handler);
  unix.on("upgrade", upgrade);
  const socketPath = env.BERTH_DOCKER_SOCKET ?? join(env.BERTH_DATA_DIR, "docker.sock");
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true });

  await listen(tcp, { port: env.BERTH_DOCKER_PORT, host: env.HOST });
  const port = (tcp.address() as AddressInfo).port;
  const host = new URL(env.PUBLIC_URL).hostname;
  cluster = await clusterIdentity(o.db, env, `${host}:${port}`);
  handle = createFleetDockerHandler({ contextFor: o.contextFor, cluster, logger: o.logger });
  try {
    await listen(unix, { path: socketPath });
    // The machine's admins (root, and the socket's group) only; callers still need a token.
    chmodSync(socketPath, 0o660);
  } catch (e) {
    tcp.close();
    throw e;
  }
  const close = (s: Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    tcpAddress: `${host}:${port}`,
    socketPath,
    dockerHost: `tcp://${host}:${port}`,
    async close() {
      await Promise.all([close(tcp), close(unix)]);
      rmSync(socketPath, { force: true });
    },
  };
}
