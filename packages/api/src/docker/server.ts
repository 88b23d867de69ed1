import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { TRPCError } from "@trpc/server";
import { ZodError, type z } from "zod";
import { API_VERSION, badRequest, DockerApiError, Router, versionedPath } from "@berth/docker-api";
import { isDomainError, type DomainErrorCode, type Logger } from "@berth/core";
import type { Context } from "../context.ts";
import { appRouter } from "../root.ts";
import type { ClusterIdentity, FleetRequest } from "./context.ts";
import { containerRoutes } from "./containers.ts";
import { execRoutes, startExecUpgrade } from "./exec.ts";
import { attachRoutes, startAttachUpgrade } from "./attach.ts";
import { imageRoutes } from "./images.ts";
import { buildRoutes } from "./builds.ts";
import { volumeRoutes } from "./volumes.ts";
import { serviceFileRoutes } from "./service-files.ts";
import { networkRoutes } from "./networks.ts";
import { nodeRoutes } from "./nodes.ts";
import { serviceRoutes } from "./services.ts";
import { systemRoutes } from "./system.ts";

/*
 * The Docker Engine and Swarm APIs for the whole fleet, on the control plane. A thin adapter: each
 * route translates Docker's shapes to a tRPC procedure called as the request's caller (an API token
 * as `Authorization: Bearer`), so the same role checks, container policy and audit rows (channel
 * `docker`) apply as on every other edge. Errors keep Docker's shape: `{"message": …}`.
 */

/** Request bodies are small JSON documents (specs); a larger one is refused. */
const MAX_BODY_BYTES = 1 << 20;

export interface FleetDockerOptions {
  /** The caller's context, with channel "docker". */
  contextFor(req: IncomingMessage): Promise<Context>;
  cluster: ClusterIdentity;
  logger: Logger;
}

export function fleetDockerRouter(): Router<FleetRequest> {
  const router = new Router<FleetRequest>();
  systemRoutes(router);
  nodeRoutes(router);
  serviceRoutes(router);
  containerRoutes(router);
  execRoutes(router);
  attachRoutes(router);
  networkRoutes(router);
  imageRoutes(router);
  buildRoutes(router);
  volumeRoutes(router);
  serviceFileRoutes(router);
  return router;
}

const TRPC_STATUS: Partial<Record<TRPCError["code"], number>> = {
  BAD_REQUEST: 400,
  PARSE_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 503,
  TOO_MANY_REQUESTS: 429,
  PAYLOAD_TOO_LARGE: 413,
  TIMEOUT: 504,
  BAD_GATEWAY: 502,
};

const DOMAIN_STATUS: Record<DomainErrorCode, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  HOST_OFFLINE: 503,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  UPSTREAM: 502,
};

function zodMessage(e: ZodError): string {
  return e.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
}

/** Docker's status and message for what a route threw. */
export function toDockerError(e: unknown): { status: number; message: string } {
  if (e instanceof DockerApiError) return { status: e.status, message: e.message };
  if (e instanceof ZodError) return { status: 400, message: `invalid request: ${zodMessage(e)}` };
  // Checks made outside a procedure (exec's role check) throw the domain's errors themselves.
  if (isDomainError(e)) return { status: DOMAIN_STATUS[e.code], message: e.message };
  if (e instanceof TRPCError) {
    const message = e.cause instanceof ZodError ? `invalid request: ${zodMessage(e.cause)}` : e.message;
    return { status: TRPC_STATUS[e.code] ?? 500, message };
  }
  return { status: 500, message: "internal error" };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new DockerApiError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export interface FleetDockerHandler {
  request(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Requests that ask to upgrade the connection (exec start). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
}

export function createFleetDockerHandler(o: FleetDockerOptions): FleetDockerHandler {
  const router = fleetDockerRouter();
  const base = { "Api-Version": API_VERSION, "Docker-Experimental": "false", Ostype: "linux", Server: `Berth/${o.cluster.version}` };
  const send = (res: ServerResponse, status: number, value: unknown) => {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { ...base, "Content-Type": "application/json" }).end(JSON.stringify(value));
  };
  // Every path needs a credential, _ping included: the CLI sends its configured headers on each request.
  const authenticated = async (req: IncomingMessage): Promise<Context> => {
    const ctx = await o.contextFor(req);
    if (!ctx.user && !ctx.token)
      throw new DockerApiError(401, ctx.authError ?? "authentication required: send a Berth API token as Authorization: Bearer");
    return ctx;
  };
  const failed = (e: unknown, url: string | undefined) => {
    const err = toDockerError(e);
    // An answer a route chose (a 503 for no eligible host) is not a failure of the endpoint.
    if (err.status >= 500 && !(e instanceof DockerApiError)) o.logger.error({ err: e, url }, "fleet Docker API request failed");
    return err;
  };

  const request = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const { url, path, version } = versionedPath(req.url);
      const ctx = await authenticated(req);
      const route = router.match(req.method === "HEAD" ? "HEAD" : (req.method ?? "GET"), path);
      if ("status" in route) throw new DockerApiError(404, `page not found: ${req.method} ${path}`);
      const fleetRequest: FleetRequest = {
        req,
        res,
        params: route.params,
        query: url.searchParams,
        version,
        ctx,
        api: appRouter.createCaller(ctx),
        cluster: o.cluster,
        async body<S extends z.ZodType>(schema: S) {
          const text = await readBody(req);
          let raw: unknown = {};
          if (text.trim()) {
            try {
              raw = JSON.parse(text);
            } catch {
              throw badRequest("invalid JSON in the request body");
            }
          }
          return schema.parse(raw ?? {});
        },
        json: (status, value) => send(res, status, value),
      };
      await route.handler(fleetRequest);
    } catch (e) {
      const { status, message } = failed(e, req.url);
      send(res, status, { message });
    }
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const { path } = versionedPath(req.url);
      const ctx = await authenticated(req);
      const exec = /^\/exec\/([^/]+)\/start$/.exec(path);
      const attach = /^\/containers\/(.+)\/attach$/.exec(path);
      if (req.method === "POST" && exec) await startExecUpgrade(ctx, req, socket, head, decodeURIComponent(exec[1]!));
      else if (req.method === "POST" && attach) {
        const { url } = versionedPath(req.url);
        await startAttachUpgrade(ctx, appRouter.createCaller(ctx), socket, decodeURIComponent(attach[1]!), url.searchParams);
      } else throw new DockerApiError(501, `${req.method} ${path} with an upgrade is not supported through the fleet endpoint yet`);
    } catch (e) {
      const { status, message } = failed(e, req.url);
      const body = JSON.stringify({ message });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  };

  return { request, upgrade };
}
