import { z } from "zod";
import type { OverlayNetworkView } from "@berth/core";
import { authed, requireTeamRole, rest, router, teamsWithRole, withRole } from "../trpc.ts";
import type { Context } from "../context.ts";

/*
 * Overlay networks: networks that span the team's hosts. Operators create and remove them,
 * viewers read them and their endpoints; every change is audited (the `authed` middleware). The
 * options are checked in core (overlay/overlay-store.ts), so errors read the same at every edge.
 */

const Id = z.string().min(1).max(64);

async function networkFor(ctx: Context, id: string, min: "viewer" | "operator"): Promise<OverlayNetworkView> {
  const n = await ctx.overlays.get(id);
  requireTeamRole(ctx, n.teamId, min);
  return n;
}

export const overlaysRouter = router({
  list: authed.meta(rest("GET", "/overlay-networks")).query(async ({ ctx }) => ctx.overlays.list(teamsWithRole(ctx, "viewer"))),

  get: authed
    .meta(rest("GET", "/overlay-networks/{id}"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => {
      const n = await networkFor(ctx, input.id, "viewer");
      return {
        ...n,
        endpointList: await ctx.overlays.endpoints(n.id),
        vips: await ctx.overlays.vips(n.id),
        hostErrors: await ctx.overlays.hostErrors(n.id),
      };
    }),

  create: withRole("operator")
    .meta(rest("POST", "/overlay-networks"))
    .input(
      z.object({
        teamId: Id,
        name: z.string().max(256),
        subnet: z.string().max(64).optional(),
        gateway: z.string().max(64).optional(),
        attachable: z.boolean().optional(),
        internal: z.boolean().optional(),
        encrypted: z.boolean().optional(),
        labels: z.record(z.string().max(1024), z.string().max(4096)).optional(),
        options: z.record(z.string().max(256), z.string().max(1024)).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "operator");
      const { teamId, ...spec } = input;
      return ctx.overlays.create(teamId, spec, ctx.user?.id ?? null);
    }),

  remove: withRole("operator")
    .meta(rest("DELETE", "/overlay-networks/{id}"))
    .input(z.object({ id: Id, waitForLeavingTasks: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await networkFor(ctx, input.id, "operator");
      // Tasks of removed services may still be stopping: wait for them (up to 30 s) when asked.
      await ctx.overlays.remove(input.id, input.waitForLeavingTasks ? { drainMs: 30_000 } : {});
      return { ok: true as const };
    }),
});
