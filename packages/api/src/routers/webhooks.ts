import { z } from "zod";
import {
  checkAllowlistEntry,
  checkWebhookTarget,
  checkWebhookUrl,
  createWebhook,
  enqueueWebhookEvent,
  getWebhook,
  listDeliveries,
  listWebhooks,
  removeWebhook,
  webhookAllowlist,
  WEBHOOK_EVENTS,
} from "@berth/core";
import { requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

const Id = z.string().min(1).max(64);

/** Webhooks of a team: admins and owners add, remove, test them and read their delivery log. */
export const webhooksRouter = router({
  create: withRole("admin")
    .meta(rest("POST", "/webhooks"))
    .input(
      z.object({
        teamId: Id.optional(),
        name: z.string().trim().min(1).max(100),
        url: z.string().trim().max(2048),
        events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const teamId = input.teamId ?? teamsWithRole(ctx, "admin")[0]!;
      requireTeamRole(ctx, teamId, "admin");
      const url = checkWebhookUrl(input.url);
      // Loopback, link-local and private targets only when an admin allow-listed them.
      await checkWebhookTarget(url, await webhookAllowlist(ctx.db, teamId));
      // The signing secret is returned once, here.
      return createWebhook(ctx.db, ctx.secretBox, {
        teamId,
        name: input.name,
        url,
        events: [...new Set(input.events)],
        createdById: ctx.user?.id ?? null,
      });
    }),

  /** Internal targets (loopback, link-local, private) webhooks may reach: host names, addresses or CIDRs. */
  allowlist: withRole("admin")
    .meta(rest("GET", "/teams/{teamId}/webhook-allowlist"))
    .input(z.object({ teamId: Id }))
    .query(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      return webhookAllowlist(ctx.db, input.teamId);
    }),

  setAllowlist: withRole("admin")
    .meta(rest("PUT", "/teams/{teamId}/webhook-allowlist"))
    .input(z.object({ teamId: Id, entries: z.array(z.string().trim().min(1).max(255)).max(64) }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      const entries = [...new Set(input.entries.map(checkAllowlistEntry))];
      await ctx.db.team.update({ where: { id: input.teamId }, data: { webhookAllowlist: entries } });
      return entries;
    }),

  list: withRole("admin")
    .meta(rest("GET", "/webhooks"))
    .query(({ ctx }) => listWebhooks(ctx.db, teamsWithRole(ctx, "admin"))),

  remove: withRole("admin")
    .meta(rest("DELETE", "/webhooks/{id}"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getWebhook(ctx.db, input.id)).teamId, "admin");
      await removeWebhook(ctx.db, input.id);
      return { id: input.id };
    }),

  /** Queues a `ping` event for this webhook alone. */
  test: withRole("admin")
    .meta(rest("POST", "/webhooks/{id}/test"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      const w = await getWebhook(ctx.db, input.id);
      requireTeamRole(ctx, w.teamId, "admin");
      return { queued: await enqueueWebhookEvent(ctx.db, w.teamId, "ping", { webhook: { id: w.id, name: w.name } }, w.id) };
    }),

  /** The delivery log, newest first, paged. */
  deliveries: withRole("admin")
    .meta(rest("GET", "/webhooks/{id}/deliveries"))
    .input(
      z.object({
        id: Id,
        cursor: z
          .string()
          .regex(/^\d{1,19}$/)
          .optional(),
        limit: z.number().int().min(1).max(200).default(50),
      }),
    )
    .query(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getWebhook(ctx.db, input.id)).teamId, "admin");
      return listDeliveries(ctx.db, input.id, input.cursor, input.limit);
    }),
});
