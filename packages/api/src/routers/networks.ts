import { z } from "zod";
import { authed, router, rest } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";

const NetworkRef = z.string().trim().min(1).max(256);

/** Networks on one host, relayed to its agent. Viewers read; operators change. */
export const networksRouter = router({
  list: authed
    .meta(rest("GET", "/hosts/{hostId}/networks"))
    .input(z.object({ hostId: HostId }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "networks.list", {});
    }),

  inspect: authed
    .meta(rest("GET", "/hosts/{hostId}/networks/{id}"))
    .input(z.object({ hostId: HostId, id: NetworkRef }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "networks.inspect", { id: input.id });
    }),

  create: authed
    .meta(rest("POST", "/hosts/{hostId}/networks"))
    .input(
      z.object({
        hostId: HostId,
        name: z.string().trim().min(1).max(128),
        internal: z.boolean().default(false),
        icc: z.boolean().default(true),
        subnet: z.string().trim().max(64).optional(),
        gateway: z.string().trim().max(64).optional(),
        ipRange: z.string().trim().max(64).optional(),
        labels: z.record(z.string().max(1024), z.string().max(65_536)).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      const { hostId, ...args } = input;
      return ctx.gateway.command(hostId, "networks.create", args);
    }),

  remove: authed
    .meta(rest("DELETE", "/hosts/{hostId}/networks/{id}"))
    .input(z.object({ hostId: HostId, id: NetworkRef }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      await ctx.gateway.command(input.hostId, "networks.remove", { id: input.id });
      return { ok: true as const };
    }),

  prune: authed
    .meta(rest("POST", "/hosts/{hostId}/networks/prune"))
    .input(z.object({ hostId: HostId }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "networks.prune", {});
    }),

  connect: authed
    .meta(rest("POST", "/hosts/{hostId}/networks/{id}/connect"))
    .input(
      z.object({
        hostId: HostId,
        id: NetworkRef,
        container: NetworkRef,
        ip: z.string().trim().max(64).optional(),
        aliases: z.array(z.string().max(256)).max(64).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      const { hostId, ...args } = input;
      await ctx.gateway.command(hostId, "networks.connect", args);
      return { ok: true as const };
    }),

  disconnect: authed
    .meta(rest("POST", "/hosts/{hostId}/networks/{id}/disconnect"))
    .input(z.object({ hostId: HostId, id: NetworkRef, container: NetworkRef }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      await ctx.gateway.command(input.hostId, "networks.disconnect", { id: input.id, container: input.container });
      return { ok: true as const };
    }),
});
