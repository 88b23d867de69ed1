import type { IncomingMessage, ServerResponse } from "node:http";
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
