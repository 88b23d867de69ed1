import { z } from "zod";
import { BuildRequestSchema, DomainError, buildLogPieces, getBuild, listBuilds, type BuildView } from "@berth/core";
import { authed, requireTeamRole, rest, router, teamsWithRole, withRole } from "../trpc.ts";
import type { Context } from "../context.ts";
import { HostId, hostFor } from "./host-access.ts";

/*
 * Image builds on a chosen host, from a git repository or files sent with the request. Operators
 * start and cancel them; any role in the team reads their history and logs. The live log is the
 * stream at /api/streams/build-logs (streams.ts); `log` here reads it in pieces.
 */

const Id = z.string().min(1).max(64);

async function find(ctx: Context, id: string, min: "viewer" | "operator"): Promise<BuildView> {
  const b = await getBuild(ctx.db, id);
  requireTeamRole(ctx, b.teamId, min);
  return b;
}

export const buildsRouter = router({
  list: authed
    .meta(rest("GET", "/builds"))
    .input(z.object({ hostId: HostId.optional() }).optional())
    .query(({ ctx, input }) => listBuilds(ctx.db, teamsWithRole(ctx, "viewer"), input?.hostId ? { hostId: input.hostId } : {})),

  get: authed
    .meta(rest("GET", "/builds/{id}"))
    .input(z.object({ id: Id }))
    .query(({ ctx, input }) => find(ctx, input.id, "viewer")),

  /** The log from piece `after` on (0: from the start). */
  log: authed
    .meta(rest("GET", "/builds/{id}/log"))
    .input(z.object({ id: Id, after: z.number().int().min(0).default(0) }))
    .query(async ({ ctx, input }) => {
      const b = await find(ctx, input.id, "viewer");
      return { status: b.status, pieces: await buildLogPieces(ctx.db, input.id, input.after) };
    }),

  create: withRole("operator")
    .meta(rest("POST", "/builds"))
    .input(BuildRequestSchema)
    .mutation(async ({ ctx, input }) => {
      const host = await hostFor(ctx, input.hostId, "operator");
      if (!ctx.gateway.isConnected(host.id)) throw new DomainError("HOST_OFFLINE", `host ${host.name} is not connected`);
      if (!ctx.builds) throw new DomainError("UNAVAILABLE", "this control-plane process runs no builds");
      // Secrets are named before anything runs: one that does not exist is refused here.
      await ctx.serviceFiles.secretValues(host.teamId, input.secrets);
      const actor = {
        userId: ctx.user?.id ?? null,
        name: ctx.user?.name || ctx.user?.email || (ctx.token ? `token ${ctx.token.name}` : "unknown"),
      };
      return ctx.builds.start(host.teamId, host.name, input, actor);
    }),

  cancel: withRole("operator")
    .meta(rest("POST", "/builds/{id}/cancel"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      await find(ctx, input.id, "operator");
      if (!ctx.builds) throw new DomainError("UNAVAILABLE", "this control-plane process runs no builds");
      await ctx.builds.cancel(input.id);
      return { ok: true as const };
    }),
});
