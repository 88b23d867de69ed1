import { z } from "zod";
import { ContainerConfigSchema, HostConfigSchema } from "@berth/protocol";
import { authed, router } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";

const ContainerRef = z.string().trim().min(1).max(256);
const ref = z.object({ hostId: HostId, id: ContainerRef });
/** Stops wait for the container's stop timeout (up to a day by Docker's API); give the agent that long. */
const STOP_TIMEOUT_MS = 10 * 60_000;

export interface ContainerListItem {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Labels: Record<string, string>;
}

export interface ContainerLogLine {
  time: string;
  stream: "stdout" | "stderr";
  line: string;
}

/** Containers on one host, relayed to its agent. Viewers read; operators change. */
export const containersRouter = router({
  list: authed.input(z.object({ hostId: HostId, all: z.boolean().default(true) })).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "containers.list", { all: input.all })) as ContainerListItem[];
  }),

  inspect: authed.input(ref).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "containers.inspect", { id: input.id })) as Record<string, unknown>;
  }),

  logs: authed
    .input(ref.extend({ tail: z.number().int().min(0).max(10_000).default(500), since: z.number().min(0).optional(), until: z.number().min(0).optional() }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      const { hostId, ...args } = input;
      return (await ctx.gateway.command(hostId, "containers.logs", args)) as ContainerLogLine[];
    }),

  top: authed.input(ref).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "containers.top", { id: input.id })) as { Titles: string[]; Processes: string[][] };
  }),

  stats: authed.input(ref).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "containers.stats", { id: input.id })) as Record<string, unknown>;
  }),

  create: authed.input(z.object({ hostId: HostId, name: z.string().max(256).optional(), config: ContainerConfigSchema })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return (await ctx.gateway.command(input.hostId, "containers.create", { config: input.config, ...(input.name ? { name: input.name } : {}) })) as { Id: string; Warnings: string[] };
  }),

  /** create + start, as `docker run -d`; a failed start leaves the created container for inspection, as Docker does. */
  run: authed.input(z.object({ hostId: HostId, name: z.string().max(256).optional(), config: ContainerConfigSchema })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    const created = (await ctx.gateway.command(input.hostId, "containers.create", { config: input.config, ...(input.name ? { name: input.name } : {}) })) as { Id: string };
    await ctx.gateway.command(input.hostId, "containers.start", { id: created.Id });
    return created;
  }),

  start: authed.input(ref).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.start", { id: input.id });
  }),

  stop: authed.input(ref.extend({ timeout: z.number().int().min(-1).max(3600).optional() })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.stop", { id: input.id, ...(input.timeout !== undefined ? { timeout: input.timeout } : {}) }, STOP_TIMEOUT_MS);
  }),

  restart: authed.input(ref.extend({ timeout: z.number().int().min(-1).max(3600).optional() })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.restart", { id: input.id, ...(input.timeout !== undefined ? { timeout: input.timeout } : {}) }, STOP_TIMEOUT_MS);
  }),

  kill: authed.input(ref.extend({ signal: z.string().max(16).default("SIGKILL") })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.kill", { id: input.id, signal: input.signal });
  }),

  pause: authed.input(ref).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.pause", { id: input.id });
  }),

  unpause: authed.input(ref).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.unpause", { id: input.id });
  }),

  remove: authed.input(ref.extend({ force: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.remove", { id: input.id, force: input.force }, STOP_TIMEOUT_MS);
  }),

  rename: authed.input(ref.extend({ name: z.string().min(1).max(256) })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.rename", { id: input.id, name: input.name });
  }),

  update: authed.input(ref.extend({ hostConfig: HostConfigSchema })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return ctx.gateway.command(input.hostId, "containers.update", { id: input.id, hostConfig: input.hostConfig });
  }),
});
