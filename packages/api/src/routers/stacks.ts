import { TRPCError } from "@trpc/server";
import { z } from "zod";
import {
  StackEnvPatchSchema,
  StackEnvSchema,
  StackGitChangeSchema,
  StackGitSourceSchema,
  StackNameSchema,
  StackSourceSchema,
  type StackView,
  recordAudit,
  stackWebhookPath,
} from "@berth/core";
import { authed, requireTeamRole, rest, router, teamsWithRole, withRole } from "../trpc.ts";
import { actorOf, type Context } from "../context.ts";
import { containerPolicyFor, serviceSpecPolicy } from "./policies.ts";
import { gatewayHostOps } from "../stacks/host-ops.ts";
import { composeOfFleetStack, composeOfProject, foundStacks } from "../stacks/found.ts";

/*
 * Stacks: compose applications deployed to the fleet, written here or kept in git. Operators
 * create, edit, deploy, roll back and remove them, and read a git stack's webhook secret; viewers
 * read them and their history. Env values go in and never come out
 * (only their names). Every change is audited (`authed`); every service a deploy writes is checked
 * against the team's container policy as the containers its tasks will be.
 */

const Id = z.string().min(1).max(64);

async function find(ctx: Context, id: string, min: "viewer" | "operator"): Promise<StackView> {
  const s = await ctx.stacks.get(id);
  requireTeamRole(ctx, s.teamId, min);
  return s;
}

/**
 * What a deploy or removal needs from its caller: the check of service specs against the team's
 * policy as it binds this caller, and for a single-host stack the way to its host, under that policy.
 */
async function callerOpts(ctx: Context, s: Pick<StackView, "teamId" | "target" | "hostId">) {
  return {
    checkSpec: await serviceSpecPolicy(ctx, s.teamId),
    ...(s.target === "host" && s.hostId
      ? {
          host: gatewayHostOps(ctx, { id: s.hostId, teamId: s.teamId }, await containerPolicyFor(ctx, s.teamId), {
            userId: actor(ctx).id,
            name: actor(ctx).name,
          }),
        }
      : {}),
  };
}

function actor(ctx: Context) {
  return { id: ctx.user?.id ?? null, name: ctx.user?.name || ctx.user?.email || (ctx.token ? `token ${ctx.token.name}` : "unknown") };
}

export const stacksRouter = router({
  list: authed.meta(rest("GET", "/stacks")).query(({ ctx }) => ctx.stacks.list(teamsWithRole(ctx, "viewer"))),

  get: authed
    .meta(rest("GET", "/stacks/{id}"))
    .input(z.object({ id: Id }))
    .query(({ ctx, input }) => find(ctx, input.id, "viewer")),

  /** Every deploy, newest first: who, why, what it changed, how it ended. */
  history: authed
    .meta(rest("GET", "/stacks/{id}/deploys"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => {
      await find(ctx, input.id, "viewer");
      return ctx.stacks.history(input.id);
    }),

  /** A new stack from compose files (`source`) or a git repository (`git`); `deploy` (default true) deploys it at once. */
  create: withRole("operator")
    .meta(rest("POST", "/stacks"))
    .input(
      z.object({
        teamId: Id,
        name: StackNameSchema,
        /** fleet: services across the team's hosts; host: containers on `hostId`, as `docker compose up -d`. */
        target: z.enum(["fleet", "host"]).default("fleet"),
        hostId: Id.optional(),
        source: StackSourceSchema.optional(),
        git: StackGitSourceSchema.optional(),
        env: StackEnvSchema.default({}),
        deploy: z.boolean().default(true),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "operator");
      const stack = await ctx.stacks.create(input.teamId, input, ctx.user?.id ?? null);
      if (!input.deploy) return { stack, deploy: null };
      // Just read: deploy what was read.
      const deploy = await ctx.stacks.deploy(stack.id, actor(ctx), { read: false, ...(await callerOpts(ctx, stack)) });
      return { stack: await ctx.stacks.get(stack.id), deploy };
    }),

  /**
   * A new source (inline stacks), new git settings (git stacks: read again) and/or env changes (a
   * value sets, null removes, a name left out keeps); deployed at once unless `deploy` is false.
   */
  update: withRole("operator")
    .meta(rest("PUT", "/stacks/{id}"))
    .input(
      z.object({
        id: Id,
        source: StackSourceSchema.optional(),
        git: StackGitChangeSchema.optional(),
        env: StackEnvPatchSchema.optional(),
        deploy: z.boolean().default(true),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      const stack = await ctx.stacks.update(input.id, {
        ...(input.source ? { source: input.source } : {}),
        ...(input.git ? { git: input.git } : {}),
        ...(input.env ? { env: input.env } : {}),
      });
      if (!input.deploy) return { stack, deploy: null };
      const deploy = await ctx.stacks.deploy(input.id, actor(ctx), {
        reason: "deploy",
        read: !(input.git || input.env),
        ...(await callerOpts(ctx, s)),
      });
      return { stack: await ctx.stacks.get(input.id), deploy };
    }),

  /** Deploys the current source again (a git stack's read first): services whose spec is unchanged are not touched. */
  deploy: withRole("operator")
    .meta(rest("POST", "/stacks/{id}/deploy"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      return ctx.stacks.deploy(input.id, actor(ctx), { reason: "redeploy", ...(await callerOpts(ctx, s)) });
    }),

  /** Stops the stack (a fleet stack's services removed, a single-host stack's containers stopped); a deploy starts it again. */
  stop: withRole("operator")
    .meta(rest("POST", "/stacks/{id}/stop"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      const { host } = await callerOpts(ctx, s);
      return ctx.stacks.stop(input.id, actor(ctx), host ? { host } : {});
    }),

  /** Reads a git stack's repository now; deploys only when the stack's files changed. */
  pull: withRole("operator")
    .meta(rest("POST", "/stacks/{id}/pull"))
    .input(z.object({ id: Id }))
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      return ctx.stacks.sync(input.id, actor(ctx), await callerOpts(ctx, s));
    }),

  /** A git stack's push webhook: the URL to give GitHub, GitLab or Gitea, and its secret. */
  webhook: withRole("operator")
    .meta(rest("GET", "/stacks/{id}/webhook"))
    .input(z.object({ id: Id }))
    .query(async ({ ctx, input }) => {
      await find(ctx, input.id, "operator");
      const { secret } = await ctx.stacks.webhookSecret(input.id);
      // A secret shown is audited as a change would be: who saw it, and from where.
      await recordAudit(ctx.db, {
        ...actorOf(ctx),
        action: "stacks.webhook.shown",
        target: input.id,
        result: "ok",
        sourceIp: ctx.sourceIp,
        channel: ctx.channel,
      });
      return { url: `${ctx.publicUrl.replace(/\/$/, "")}${stackWebhookPath(input.id)}`, secret };
    }),

  /**
   * Stacks deployed elsewhere: compose projects on the team's hosts (docker-compose on an agent's
   * socket) and `docker stack deploy` namespaces on the fleet that Berth does not keep as stacks.
   */
  found: authed.meta(rest("GET", "/found-stacks")).query(({ ctx }) => foundStacks(ctx, teamsWithRole(ctx, "viewer"))),

  /**
   * Adopts a stack deployed elsewhere. With `hostId`, a compose project on that host: its compose
   * file is written back from its containers and kept as a single-host stack (origin
   * docker-compose); its first deploy recreates the containers once (docker-compose's config
   * hashes are not Berth's) and keeps its volumes. Without, a `docker stack deploy` namespace on
   * the fleet: written back from its services' specs (origin docker-stack), so its first deploy
   * changes nothing. Either way the stack is not deployed by the adoption.
   */
  adopt: withRole("operator")
    .meta(rest("POST", "/found-stacks/adopt"))
    .input(z.object({ teamId: Id, hostId: Id.optional(), name: StackNameSchema }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "operator");
      const source = (yaml: string) => ({ files: { "compose.yaml": yaml }, composeFiles: ["compose.yaml"], profiles: [] });
      if (!input.hostId) {
        const yaml = await composeOfFleetStack(ctx, input.teamId, input.name);
        return ctx.stacks.create(
          input.teamId,
          { name: input.name, target: "fleet", source: source(yaml), env: {}, origin: "docker-stack" },
          ctx.user?.id ?? null,
        );
      }
      const host = await ctx.db.host.findUnique({ where: { id: input.hostId }, select: { teamId: true } });
      if (!host || host.teamId !== input.teamId)
        throw new TRPCError({ code: "NOT_FOUND", message: `host ${input.hostId} not found in this team` });
      const yaml = await composeOfProject(ctx, input.hostId, input.name);
      return ctx.stacks.create(
        input.teamId,
        { name: input.name, target: "host", hostId: input.hostId, source: source(yaml), env: {}, origin: "docker-compose" },
        ctx.user?.id ?? null,
      );
    }),

  /** Makes deploy `number`'s source and env current again, and deploys them. */
  rollback: withRole("operator")
    .meta(rest("POST", "/stacks/{id}/rollback"))
    .input(z.object({ id: Id, number: z.number().int().min(1) }))
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      return ctx.stacks.rollback(input.id, input.number, actor(ctx), await callerOpts(ctx, s));
    }),

  /**
   * Removes the stack's services, networks, secrets and configs (a single-host stack's containers
   * and networks), then the stack. Volumes stay unless `volumes` (single-host stacks, as `down -v`).
   */
  remove: withRole("operator")
    .meta(rest("DELETE", "/stacks/{id}"))
    .input(z.object({ id: Id, volumes: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      const s = await find(ctx, input.id, "operator");
      const { host } = await callerOpts(ctx, s);
      return ctx.stacks.remove(input.id, { volumes: input.volumes, ...(host ? { host } : {}) });
    }),
});
