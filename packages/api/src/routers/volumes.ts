import { z } from "zod";
import { authed, router, rest } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";

const VolumeName = z.string().trim().min(1).max(255);

/** Volumes on one host, relayed to its agent. Viewers read; operators change. */
export const volumesRouter = router({
  list: authed
    .meta(rest("GET", "/hosts/{hostId}/volumes"))
    .input(z.object({ hostId: HostId }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "volumes.list", {});
    }),

  inspect: authed
    .meta(rest("GET", "/hosts/{hostId}/volumes/{name}"))
    .input(z.object({ hostId: HostId, name: VolumeName }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "volumes.inspect", { name: input.name });
    }),

  create: authed
    .meta(rest("POST", "/hosts/{hostId}/volumes"))
    .input(
      z.object({
        hostId: HostId,
        name: z.string().trim().max(255).optional(),
        labels: z.record(z.string().max(1024), z.string().max(65_536)).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "volumes.create", {
        ...(input.name ? { name: input.name } : {}),
        ...(input.labels ? { labels: input.labels } : {}),
      });
    }),

  remove: authed
    .meta(rest("DELETE", "/hosts/{hostId}/volumes/{name}"))
    .input(z.object({ hostId: HostId, name: VolumeName, force: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      await ctx.gateway.command(input.hostId, "volumes.remove", { name: input.name, force: input.force });
      return { ok: true as const };
    }),

  prune: authed
    .meta(rest("POST", "/hosts/{hostId}/volumes/prune"))
    .input(z.object({ hostId: HostId, all: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "volumes.prune", { all: input.all });
    }),
});
