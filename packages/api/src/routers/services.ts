import { z } from "zod";
import { assignIngressPorts, notFound, notifyServiceChanged, parseSpec, serviceHistory, type ServiceView } from "@berth/core";
import { authed, requireTeamRole, rest, router, teamsWithRole, withRole } from "../trpc.ts";
import type { Context } from "../context.ts";
import { serviceSpecPolicy } from "./policies.ts";

/*
 * Services: operators change them, viewers read them, every change is audited (the `authed`
 * middleware) and checked against the team's container policy as the containers it will make.
 * The spec is validated in core (services/spec.ts), so errors name the field whatever the edge.
 */

const Id = z.string().min(1).max(64);
const TeamId = z.string().min(1).max(64);
/** The spec as the user writes it; core's schema checks it and fills in Swarm's defaults. */
const SpecInput = z.record(z.string(), z.unknown());
const Version = z.number().int().min(1);

async function serviceFor(ctx: Context, id: string, min: "viewer" | "operator"): Promise<ServiceView> {
  const s = await ctx.services.get(id);
  requireTeamRole(ctx, s.teamId, min);
  return s;
}

/** Refuses a spec whose tasks the team's policy would not let the caller create as containers. */
async function checkPolicy(ctx: Context, teamId: string, spec: unknown): Promise<void> {
  await (await serviceSpecPolicy(ctx, teamId))(parseSpec(spec));
}

export const servicesRouter = router({
  list: authed.meta(rest("GET", "/services")).query(async ({ ctx }) => {
    const services = await ctx.services.list(teamsWithRole(ctx, "viewer"));
    const counts = await ctx.db.task.groupBy({
      by: ["serviceId", "state"],
      where: { serviceId: { in: services.map((s) => s.id) }, desiredState: "running" },
      _count: true,
    });
    return services.map((s) => {
      const running = counts.filter((c) => c.serviceId === s.id && c.state === "running").reduce((n, c) => n + c._count, 0);
      return { ...s, running };
    });
  }),

  get: authed
    .meta(rest("GET", "/services/{id}"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => serviceFor(ctx, input.id, "viewer")),

  create: withRole("operator")
    .meta(rest("POST", "/services"))
    .input(z.object({ teamId: TeamId, spec: SpecInput }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "operator");
      await checkPolicy(ctx, input.teamId, input.spec);
      // Ports left for the routing mesh to pick get theirs first, so the mesh is made for them.
      const spec = await assignIngressPorts(ctx.db, input.teamId, null, parseSpec(input.spec));
      await ctx.overlays.ensureIngress(input.teamId, null, spec);
      return ctx.services.create(input.teamId, spec, ctx.user?.id ?? null);
    }),

  /** A new spec, refused unless `version` is the current one (two writers never overwrite each other). */
  update: withRole("operator")
    .meta(rest("PUT", "/services/{id}"))
    .input(z.object({ id: Id, version: Version, spec: SpecInput, force: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      const s = await serviceFor(ctx, input.id, "operator");
      await checkPolicy(ctx, s.teamId, input.spec);
      const spec = await assignIngressPorts(ctx.db, s.teamId, s.id, parseSpec(input.spec), s.spec);
      await ctx.overlays.ensureIngress(s.teamId, s.id, spec);
      return ctx.services.update(input.id, input.version, spec, ctx.user?.id ?? null, { force: input.force });
    }),

  scale: withRole("operator")
    .meta(rest("POST", "/services/{id}/scale"))
    .input(z.object({ id: Id, version: Version, replicas: z.number().int().min(0).max(100_000) }))
    .mutation(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "operator");
      return ctx.services.scale(input.id, input.version, input.replicas, ctx.user?.id ?? null);
    }),

  rollback: withRole("operator")
    .meta(rest("POST", "/services/{id}/rollback"))
    .input(z.object({ id: Id, version: Version }))
    .mutation(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "operator");
      return ctx.services.rollback(input.id, input.version, ctx.user?.id ?? null);
    }),

  /** Pauses an update or rollback in progress (no further batch starts). */
  pause: withRole("operator")
    .meta(rest("POST", "/services/{id}/pause"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "operator");
      return ctx.services.pause(input.id);
    }),

  /** Resumes a paused update or rollback. */
  resume: withRole("operator")
    .meta(rest("POST", "/services/{id}/resume"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "operator");
      return ctx.services.resume(input.id);
    }),

  remove: withRole("operator")
    .meta(rest("DELETE", "/services/{id}"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "operator");
      await ctx.services.remove(input.id);
      return { id: input.id };
    }),

  /** The service's tasks, newest first: current ones and each slot's history. */
  tasks: authed
    .meta(rest("GET", "/services/{id}/tasks"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "viewer");
      return ctx.db.task.findMany({
        where: { serviceId: input.id },
        orderBy: [{ slot: "asc" }, { createdAt: "desc" }],
        include: { host: { select: { name: true } } },
      });
    }),

  /** The service's tasks over the last hour (10 s samples and a point for now): running, desired, restarts. */
  history: authed
    .meta(rest("GET", "/services/{id}/history"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => {
      await serviceFor(ctx, input.id, "viewer");
      return serviceHistory(ctx.db, input.id);
    }),

  /** Whether the scheduler may use a host: active, pause (keeps its tasks) or drain (moves them). */
  setAvailability: withRole("operator")
    .meta(rest("PUT", "/hosts/{hostId}/availability"))
    .input(z.object({ hostId: Id, availability: z.enum(["active", "pause", "drain"]) }))
    .mutation(async ({ ctx, input }) => {
      const host = await ctx.db.host.findUnique({ where: { id: input.hostId }, select: { teamId: true } });
      if (!host) throw notFound(`host ${input.hostId}`);
      requireTeamRole(ctx, host.teamId, "operator");
      await ctx.db.host.update({ where: { id: input.hostId }, data: { availability: input.availability } });
      await notifyServiceChanged(ctx.db, "*");
      return { hostId: input.hostId, availability: input.availability };
    }),
});
