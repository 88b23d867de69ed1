import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, DockerApiError } from "@berth/docker-api";
import type { StreamArgsOf, StreamDataOf, StreamKind } from "@berth/protocol";
import type { z } from "zod";
import type { Context } from "../context.ts";
import type { appRouter } from "../root.ts";

/** The procedures, called as the request's caller: the same checks and audit as tRPC and REST. */
export type Caller = ReturnType<typeof appRouter.createCaller>;

/** Who the fleet endpoint says it is: one swarm whose manager is the control plane. */
export interface ClusterIdentity {
  clusterId: string;
  /** The control plane's own node (the manager and leader `docker node ls` shows). */
  managerId: string;
  /** host:port where the endpoint listens, as Swarm's manager address. */
  managerAddr: string;
  /** When the install was made: the cluster's CreatedAt. */
  createdAt: Date;
  version: string;
}

/** One request to the fleet endpoint, as its handlers see it. */
export interface FleetRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the client speaks (the path's /vX.Y, else the newest). */
  version: string;
  ctx: Context;
  api: Caller;
  cluster: ClusterIdentity;
  /** The request's JSON body, checked with `schema` (bounded in size; empty is `{}`). */
  body<S extends z.ZodType>(schema: S): Promise<z.output<S>>;
  json(status: number, value: unknown): void;
}

/**
 * The team a creation through the Docker API lands in: Docker's calls name none. A token holds one
 * team; a user, the first team they may change things in.
 */
export function creatingTeam(r: Pick<FleetRequest, "ctx">): string | null {
  return r.ctx.memberships.find((m) => m.role !== "viewer")?.teamId ?? r.ctx.memberships[0]?.teamId ?? null;
}

/**
 * An object by ID, name, or unique ID prefix, as the Swarm API resolves nodes, services and
 * networks: an exact ID or name first; a prefix of two or more IDs is ambiguous (400); none is a 404.
 */
export function resolveRef<T>(all: readonly T[], ref: string, kind: string, idOf: (x: T) => string, nameOf: (x: T) => string): T {
  const exact = all.find((x) => idOf(x) === ref) ?? all.find((x) => nameOf(x) === ref);
  if (exact) return exact;
  const prefixed = all.filter((x) => idOf(x).startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) throw badRequest(`${kind} ${ref} is ambiguous (${prefixed.length} matches found)`);
  throw new DockerApiError(404, `${kind} ${ref} not found`);
}

/** One row of the hosts' inventory (containers, images, networks or volumes), with its host. */
export type InventoryRow = Awaited<ReturnType<Caller["fleet"]["list"]>>["rows"][number];
type InventoryKind = Parameters<Caller["fleet"]["list"]>[0]["kind"];

/** Everything of one kind on the caller's hosts, from the inventory the agents report (500 rows a page). */
export async function inventoryOf(r: Pick<FleetRequest, "api">, kind: InventoryKind, q?: string): Promise<InventoryRow[]> {
  const out: InventoryRow[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await r.api.fleet.list({ kind, offset, limit: 500, ...(q ? { q } : {}) });
    out.push(...page.rows);
    if (out.length >= page.total || page.rows.length === 0) return out;
  }
}

/**
 * `host/rest` when the first segment of `ref` names one of the caller's hosts: how the fleet
 * endpoint addresses a host's own images, volumes and networks (as `host/name` does containers).
 */
export async function splitHost(
  r: Pick<FleetRequest, "api">,
  ref: string,
): Promise<{ host: { id: string; name: string } | null; rest: string }> {
  const slash = ref.indexOf("/");
  if (slash <= 0) return { host: null, rest: ref };
  const name = ref.slice(0, slash);
  const host = (await r.api.hosts.list()).find((h) => h.name === name);
  return host ? { host: { id: host.id, name: host.name }, rest: ref.slice(slash + 1) } : { host: null, rest: ref };
}

/**
 * A host's stream relayed as the response body (`docker logs -f`, `docker stats`): each data frame
 * becomes the chunks `toChunks` makes, and its credit goes back to the agent only once the client
 * has taken them; the stream closes with the client's connection.
 */
export function relayToResponse<K extends StreamKind>(
  r: Pick<FleetRequest, "res" | "ctx">,
  stream: { hostId: string; kind: K; args: StreamArgsOf<K>; window: number },
  contentType: string,
  toChunks: (d: StreamDataOf<K>) => Buffer[],
): Promise<void> {
  return new Promise((resolve) => {
    r.res.writeHead(200, { "Content-Type": contentType });
    r.res.flushHeaders();
    const open = r.ctx.gateway.openStream(stream.hostId, stream.kind, stream.args, stream.window, {
      data: (d) => {
        let ok = true;
        for (const chunk of toChunks(d)) ok = r.res.write(chunk) && ok;
        if (ok) open.grant(1);
        else r.res.once("drain", () => open.grant(1));
      },
      end: () => {
        r.res.end();
        resolve();
      },
    });
    r.res.on("close", () => {
      open.close();
      resolve();
    });
  });
}
