import { z } from "zod";
import { getHost, statsHistory, listHosts, removeHost, renameHost, revokeHostCredentials, setHostLabels } from "@berth/core";
import { authed, requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

const HostId = z.object({ id: z.string().min(1).max(64) });
const HostName = z
  .string()
  .trim()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "a host name may contain letters, digits, '.', '_' and '-', and starts with a letter or digit");
const LabelKey = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/, "label keys are letters, digits, '.', '_', '/' and '-'");

export const hostsRouter = router({
  list: authed.meta(rest("GET", "/hosts")).query(async ({ ctx }) => {
    const hosts = await listHosts(ctx.db, teamsWithRole(ctx, "viewer"));
    return hosts.map((h) => ({ ...h, connected: ctx.gateway.isConnected(h.id) }));
  }),

  get: authed
    .meta(rest("GET", "/hosts/{id}"))
    .input(HostId)
    .query(async ({ ctx, input }) => {
      const host = await getHost(ctx.db, input.id);
      requireTeamRole(ctx, host.teamId, "viewer");
      return { ...host, connected: ctx.gateway.isConnected(host.id) };
    }),

  /** The host's CPU and memory: the last hour at 10 s resolution, and its newest 1 s point. */
  statsHistory: authed
    .meta(rest("GET", "/hosts/{id}/stats/history"))
    .input(HostId)
    .query(async ({ ctx, input }) => {
      const host = await getHost(ctx.db, input.id);
      requireTeamRole(ctx, host.teamId, "viewer");
      return { history: await statsHistory(ctx.db, host.id, ""), latest: ctx.stats.latestPoint(host.id) };
    }),

  rename: withRole("operator")
    .meta(rest("POST", "/hosts/{id}/rename"))
    .input(HostId.extend({ name: HostName }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getHost(ctx.db, input.id)).teamId, "operator");
      return renameHost(ctx.db, input.id, input.name);
    }),

  setLabels: withRole("operator")
    .meta(rest("PUT", "/hosts/{id}/labels"))
    .input(
      HostId.extend({ labels: z.record(LabelKey, z.string().max(255)).refine((l) => Object.keys(l).length <= 64, "at most 64 labels") }),
    )
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getHost(ctx.db, input.id)).teamId, "operator");
      return setHostLabels(ctx.db, input.id, input.labels);
    }),

  /** Removes the host: its credentials are revoked and its link is closed at once. */
  remove: withRole("admin")
    .meta(rest("DELETE", "/hosts/{id}"))
    .input(HostId)
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getHost(ctx.db, input.id)).teamId, "admin");
      await removeHost(ctx.db, input.id);
      ctx.gateway.disconnect(input.id);
      return { id: input.id };
    }),

  /** Revokes the host's credential and disconnects it; the host stays listed, offline, until removed. */
  revokeCredential: withRole("admin")
    .meta(rest("POST", "/hosts/{id}/revoke-credential"))
    .input(HostId)
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getHost(ctx.db, input.id)).teamId, "admin");
      const revoked = await revokeHostCredentials(ctx.db, input.id);
      ctx.gateway.disconnect(input.id);
      await ctx.db.host.update({ where: { id: input.id }, data: { status: "offline" } });
      return { revoked };
    }),

  /** Round trip over the agent link. */
  ping: authed
    .meta(rest("GET", "/hosts/{id}/ping"))
    .input(HostId)
    .query(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getHost(ctx.db, input.id)).teamId, "viewer");
      const started = performance.now();
      const reply = await ctx.gateway.command(input.id, "ping", {}, { timeoutMs: 10_000 });
      return { reply, roundTripMs: Math.round((performance.now() - started) * 10) / 10 };
    }),
});
