// The Docker Engine API on a unix socket, so the stock docker CLI and SDKs drive this agent.
// Routes live in one module per resource; this file does versions, errors and the two ways a
// request arrives (plain, or asking to upgrade for attach and exec).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, Server as TlsServer } from "node:https";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { Logger } from "pino";
import type { AgentRuntime } from "../runtime.ts";
import { AGENT_VERSION } from "../version.ts";
import { baseHeaders, httpContext, upgradeContext, type ApiContext } from "./context.ts";
import { badRequest, DockerApiError, toDockerError } from "./errors.ts";
import { Router } from "./router.ts";
import { systemRoutes } from "./system.ts";
import { containerRoutes } from "./containers.ts";
import { execRoutes } from "./exec.ts";
import { imageRoutes } from "./images.ts";
import { networkRoutes } from "./networks.ts";
import { volumeRoutes } from "./volumes.ts";
import { swarmRoutes } from "./swarm.ts";
import { builderRoutes } from "./builder.ts";
import { experimentalRoutes } from "./experimental.ts";
import { attachWebSocketRoutes } from "./attach-ws.ts";
import { API_VERSION, versionedPath } from "@berth/docker-api";

export interface DockerApiOptions {
  runtime: AgentRuntime;
  socketPath: string;
  logger: Logger;
  /** Registry mirrors and settings come from the runtime; this names the daemon in `info`. */
  name?: string;
  stateDir: string;
  /** Also serve TCP, with TLS and required client certificates (PEM files). */
  tcp?: { host: string; port: number; cert: string; key: string; ca: string };
}

export interface DockerApi {
  server: Server;
  /** The TLS port, when serving TCP (useful with port 0). */
  tcpPort?: number;
  close(): Promise<void>;
}

export function dockerApiRouter(o: DockerApiOptions): Router {
  const router = new Router();
  systemRoutes(router, o);
  swarmRoutes(router);
  builderRoutes(router, o);
  containerRoutes(router, o);
  attachWebSocketRoutes(router, o);
  experimentalRoutes(router);
  execRoutes(router, o);
  imageRoutes(router, o);
  networkRoutes(router, o);
  volumeRoutes(router, o);
  return router;
}

export async function startDockerApi(o: DockerApiOptions): Promise<DockerApi> {
  const router = dockerApiRouter(o);
  // Certificates are read first, so a bad path fails before anything listens.
  const tlsFiles = o.tcp ? { cert: readFileSync(o.tcp.cert), key: readFileSync(o.tcp.key), ca: readFileSync(o.tcp.ca) } : undefined;
  const headers = baseHeaders(API_VERSION, AGENT_VERSION);
  const open = new Set<Socket>();

  const prepare = (
    req: IncomingMessage,
  ): Omit<ApiContext, "json" | "empty" | "text" | "stream" | "hijack" | "body" | "signal"> & { route: ReturnType<Router["match"]> } => {
    const { url, path, version } = versionedPath(req.url);
    const method = req.method ?? "GET";
    let route: ReturnType<Router["match"]>;
    try {
      route = router.match(method, path);
    } catch {
      throw badRequest(`malformed path: ${path}`);
    }
    return {
      method,
      path,
      version,
      params: "params" in route ? route.params : {},
      query: url.searchParams,
      headers: req.headers,
      req,
      route,
    };
  };

  const run = async (ctx: ApiContext, route: ReturnType<Router["match"]>) => {
    const t0 = performance.now();
    ctx.signal.addEventListener("abort", () =>
      o.logger.debug({ method: ctx.method, path: ctx.path, ms: Math.round(performance.now() - t0) }, "docker api request done"),
    );
    if ("status" in route) {
      if (route.status === 405) throw new DockerApiError(405, `method ${ctx.method} is not allowed on ${ctx.path}`);
      throw new DockerApiError(
        404,
        `page not found: ${ctx.method} ${ctx.path} is not part of the Engine API Berth serves (see docs/docker-api.md)`,
      );
    }
    await route.handler(ctx);
  };

  const fail = (ctx: ApiContext | null, e: unknown, reply: (status: number, message: string) => void) => {
    const { status, message } = toDockerError(e);
    if (status >= 500) o.logger.warn({ err: e, path: ctx?.path }, "docker api request failed");
    reply(status, message);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    let ctx: ApiContext | null = null;
    const reply = (status: number, message: string) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 304) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      const body = JSON.stringify({ message });
      res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) + 1 });
      res.end(`${body}\n`);
    };
    try {
      const { route, ...base } = prepare(req);
      ctx = httpContext(base, res, headers);
      run(ctx, route).catch((e: unknown) => fail(ctx, e, reply));
    } catch (e) {
      fail(ctx, e, reply);
    }
  };
  const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
    let ctx: ApiContext | null = null;
    socket.on("error", () => socket.destroy());
    const reply = (status: number, message: string) => {
      if (ctx) ctx.json(status, { message });
      else {
        const body = `${JSON.stringify({ message })}\n`;
        socket.end(
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
    };
    try {
      const { route, ...base } = prepare(req);
      ctx = upgradeContext(base, socket, head, headers);
      run(ctx, route).catch((e: unknown) => fail(ctx, e, reply));
    } catch (e) {
      fail(ctx, e, reply);
    }
  };
  const serve = (server: Server) => {
    server.on("request", onRequest);
    server.on("upgrade", onUpgrade);
    server.on(server instanceof TlsServer ? "secureConnection" : "connection", (s: Socket) => {
      open.add(s);
      s.on("close", () => open.delete(s));
    });
    // A client that sends garbage gets a 400 and its connection closed; the agent carries on.
    server.on("clientError", (_err, socket: Socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    return server;
  };
  const server = serve(createServer());
  mkdirSync(dirname(o.socketPath), { recursive: true, mode: 0o755 });
  await removeStaleSocket(o.socketPath);
  // Root only, as dockerd's socket without a docker group: whoever can use it is root on the host.
  // It is made in a private directory, restricted, then renamed into place, so it is never
  // reachable under the process's umask, not even for a moment.
  const staging = mkdtempSync(join(dirname(o.socketPath), ".berth-sock-"));
  const staged = join(staging, "s");
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(staged, () => {
        server.off("error", reject);
        resolve();
      });
    });
    chmodSync(staged, 0o660);
    renameSync(staged, o.socketPath);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  o.logger.info({ socket: o.socketPath }, "serving the Docker Engine API");
  // TCP only with TLS and client certificates: a client that holds a certificate signed by the CA
  // given here has root on this host, as with dockerd's --tlsverify.
  let tcp: TlsServer | undefined;
  if (o.tcp) {
    tcp = serve(createTlsServer({ ...tlsFiles!, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" })) as TlsServer;
    const { host, port } = o.tcp;
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error) => {
        server.close();
        rmSync(o.socketPath, { force: true });
        reject(e);
      };
      tcp!.once("error", failed);
      tcp!.listen(port, host, () => {
        tcp!.off("error", failed);
        resolve();
      });
    });
    o.logger.info({ address: `${host}:${port}` }, "serving the Docker Engine API over TLS with client certificates");
  }

  return {
    server,
    ...(tcp ? { tcpPort: (tcp.address() as AddressInfo).port } : {}),
    close: async () => {
      for (const s of open) s.destroy();
      await Promise.all([server, ...(tcp ? [tcp] : [])].map((s) => new Promise<void>((r) => s.close(() => r()))));
      rmSync(o.socketPath, { force: true });
    },
  };
}

/** A socket file left by an agent that died can go; one that another process still answers on cannot. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = statSync(path).isSocket();
  } catch {
    return; // not there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another process is serving on ${path}`);
  rmSync(path, { force: true });
}
