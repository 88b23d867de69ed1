import { z } from "zod";
import { ContainerConfigSchema, ContainerUpdateSchema, type CommandReply, type ContainerConfig } from "@berth/protocol";
import { enforceContainerPolicy, statsHistory } from "@berth/core";
import { authed, router, rest } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";
import { containerPolicyFor } from "./policies.ts";
import type { Context } from "../context.ts";

const ContainerRef = z.string().trim().min(1).max(256);
const ref = z.object({ hostId: HostId, id: ContainerRef });
/** Stops wait for the container's stop timeout (up to a day by Docker's API); give the agent that long. */
const STOP_TIMEOUT_MS = 10 * 60_000;

/**
 * Asks the host to create a container, after the team's container policy has looked at it (it binds
 * operators; the agent checks bind sources again with their links resolved).
 */
async function createOn(
  ctx: Context,
  hostId: string,
  config: ContainerConfig,
  name: string | undefined,
): Promise<CommandReply<"containers.create">> {
  const host = await hostFor(ctx, hostId, "operator");
  const policy = await containerPolicyFor(ctx, host.teamId);
  if (policy) enforceContainerPolicy(policy, await withSharedModes(ctx, hostId, config));
  return ctx.gateway.command(hostId, "containers.create", {
    config,
    ...(name ? { name } : {}),
    ...(policy ? { bindPrefixes: policy.bindPrefixes } : {}),
  });
}

const SHARED_MODES = ["NetworkMode", "PidMode", "IpcMode", "UTSMode"] as const;

/**
 * The create config as the policy must judge it: a `container:<x>` namespace mode means x's
 * namespace, so joining a container that has the host's is asking for the host's. Followed
 * through chains of such modes a few steps (a longer chain is judged as the host's, to be safe).
 */
async function withSharedModes(ctx: Context, hostId: string, config: ContainerConfig): Promise<ContainerConfig> {
  const hc: Record<string, unknown> = { ...config.HostConfig };
  for (const field of SHARED_MODES) {
    let mode = config.HostConfig[field];
    for (let hops = 0; mode?.startsWith("container:"); hops++) {
      if (hops === 4) {
        mode = "host";
        break;
      }
      const target = await ctx.gateway.command(hostId, "containers.inspect", { id: mode.slice("container:".length) }).catch(() => null);
      // A missing target is the agent's to refuse, with Docker's message.
      if (!target) break;
      mode = ((target.HostConfig ?? {}) as Record<string, string | undefined>)[field] ?? "";
    }
    hc[field] = mode;
  }
  return { ...config, HostConfig: hc as ContainerConfig["HostConfig"] };
}

/** Containers on one host, relayed to its agent. Viewers read; operators change. */
export const containersRouter = router({
  list: authed
    .meta(rest("GET", "/hosts/{hostId}/containers"))
    .input(z.object({ hostId: HostId, all: z.boolean().default(true) }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "containers.list", { all: input.all });
    }),

  inspect: authed
    .meta(rest("GET", "/hosts/{hostId}/containers/{id}"))
    .input(ref)
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "containers.inspect", { id: input.id });
    }),

  logs: authed
    .meta(rest("GET", "/hosts/{hostId}/containers/{id}/logs"))
    .input(
      ref.extend({
        tail: z.number().int().min(0).max(10_000).default(500),
        since: z.number().min(0).optional(),
        until: z.number().min(0).optional(),
      }),
    )
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      const { hostId, ...args } = input;
      return ctx.gateway.command(hostId, "containers.logs", args);
    }),

  top: authed
    .meta(rest("GET", "/hosts/{hostId}/containers/{id}/top"))
    .input(ref)
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "containers.top", { id: input.id });
    }),

  stats: authed
    .meta(rest("GET", "/hosts/{hostId}/containers/{id}/stats"))
    .input(ref)
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "containers.stats", { id: input.id });
    }),

  /** The last hour at 10 s resolution (Postgres), then the newest 1 s point if the host reported it. */
  statsHistory: authed
    .meta(rest("GET", "/hosts/{hostId}/containers/{id}/stats/history"))
    .input(ref)
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      const id = /^[0-9a-f]{64}$/.test(input.id)
        ? input.id
        : (await ctx.gateway.command(input.hostId, "containers.inspect", { id: input.id })).Id;
      return { history: await statsHistory(ctx.db, input.hostId, id), latest: ctx.stats.latestPoint(input.hostId, id) };
    }),

  create: authed
    .meta(rest("POST", "/hosts/{hostId}/containers"))
    .input(z.object({ hostId: HostId, name: z.string().max(256).optional(), config: ContainerConfigSchema }))
    .mutation(({ ctx, input }) => createOn(ctx, input.hostId, input.config, input.name)),

  /** create + start, as `docker run -d`; a failed start leaves the created container for inspection, as Docker does. */
  run: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/run"))
    .input(z.object({ hostId: HostId, name: z.string().max(256).optional(), config: ContainerConfigSchema }))
    .mutation(async ({ ctx, input }) => {
      const created = await createOn(ctx, input.hostId, input.config, input.name);
      await ctx.gateway.command(input.hostId, "containers.start", { id: created.Id });
      return created;
    }),

  start: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/start"))
    .input(ref)
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.start", { id: input.id });
    }),

  stop: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/stop"))
    .input(ref.extend({ timeout: z.number().int().min(-1).max(3600).optional() }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(
        input.hostId,
        "containers.stop",
        { id: input.id, ...(input.timeout !== undefined ? { timeout: input.timeout } : {}) },
        { timeoutMs: STOP_TIMEOUT_MS },
      );
    }),

  restart: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/restart"))
    .input(ref.extend({ timeout: z.number().int().min(-1).max(3600).optional() }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(
        input.hostId,
        "containers.restart",
        { id: input.id, ...(input.timeout !== undefined ? { timeout: input.timeout } : {}) },
        { timeoutMs: STOP_TIMEOUT_MS },
      );
    }),

  kill: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/kill"))
    .input(ref.extend({ signal: z.string().max(16).default("SIGKILL") }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.kill", { id: input.id, signal: input.signal });
    }),

  pause: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/pause"))
    .input(ref)
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.pause", { id: input.id });
    }),

  unpause: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/unpause"))
    .input(ref)
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.unpause", { id: input.id });
    }),

  remove: authed
    .meta(rest("DELETE", "/hosts/{hostId}/containers/{id}"))
    .input(ref.extend({ force: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.remove", { id: input.id, force: input.force }, { timeoutMs: STOP_TIMEOUT_MS });
    }),

  rename: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/rename"))
    .input(ref.extend({ name: z.string().min(1).max(256) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.rename", { id: input.id, name: input.name });
    }),

  /** Resource limits and the restart policy only; anything else is refused by name. */
  update: authed
    .meta(rest("POST", "/hosts/{hostId}/containers/{id}/update"))
    .input(ref.extend({ hostConfig: ContainerUpdateSchema }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "containers.update", { id: input.id, hostConfig: input.hostConfig });
    }),
});
