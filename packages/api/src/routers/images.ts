import { z } from "zod";
import { recordAudit, registryAccessFor } from "@berth/core";
import { parseReference, ReferenceError } from "@berth/protocol/reference";
import { TRPCError } from "@trpc/server";
import { authed, router, rest } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";
import { actorOf } from "../context.ts";

const ImageName = z.string().trim().min(1).max(512);
const PULL_TIMEOUT_MS = 30 * 60_000;

function domainOf(reference: string): string {
  try {
    return parseReference(reference).domain;
  } catch (e) {
    throw new TRPCError({ code: "BAD_REQUEST", message: e instanceof ReferenceError ? e.message : "invalid reference format" });
  }
}

export interface ImageListItem {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
}

/** Images on one host, relayed to its agent over the link. */
export const imagesRouter = router({
  list: authed.meta(rest("GET", "/hosts/{hostId}/images")).input(z.object({ hostId: HostId })).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "images.list", {})) as ImageListItem[];
  }),

  inspect: authed.meta(rest("GET", "/hosts/{hostId}/images/inspect")).input(z.object({ hostId: HostId, name: ImageName })).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "images.inspect", { name: input.name })) as Record<string, unknown>;
  }),

  history: authed.meta(rest("GET", "/hosts/{hostId}/images/history")).input(z.object({ hostId: HostId, name: ImageName })).query(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "viewer");
    return (await ctx.gateway.command(input.hostId, "images.history", { name: input.name })) as Array<Record<string, unknown>>;
  }),

  /**
   * Pulls on a host and streams Docker-like progress ({ id, status, current?, total? }), then
   * one final { done: true, image }. Credentials for the image's registry come from the team's
   * registries and go to the agent only.
   */
  pull: authed
    .input(z.object({ hostId: HostId, reference: ImageName, platform: z.string().max(64).optional() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const host = await hostFor(ctx, input.hostId, "operator");
      const registry = await registryAccessFor(ctx.db, ctx.secretBox, host.teamId, domainOf(input.reference));
      const queue: unknown[] = [];
      let wake: (() => void) | null = null;
      const notify = () => {
        wake?.();
        wake = null;
      };
      let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | null = null;
      ctx.gateway
        .command(input.hostId, "images.pull", { reference: input.reference, registry, ...(input.platform ? { platform: input.platform } : {}) }, PULL_TIMEOUT_MS, (p) => {
          queue.push(p);
          notify();
        })
        .then(
          (value) => (outcome = { ok: true, value }),
          (error: unknown) => (outcome = { ok: false, error }),
        )
        .finally(notify);
      while (true) {
        while (queue.length) yield { done: false as const, progress: queue.shift() as Record<string, unknown> };
        if (outcome) break;
        if (signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
      }
      const result = outcome as { ok: true; value: unknown } | { ok: false; error: unknown };
      await recordAudit(ctx.db, {
        ...actorOf(ctx),
        action: "images.pull",
        target: `${input.hostId}:${input.reference}`,
        result: result.ok ? "ok" : "error",
        ...(result.ok ? {} : { detail: { error: String((result.error as Error)?.message ?? result.error) } }),
        sourceIp: ctx.sourceIp,
        channel: ctx.channel,
      });
      if (!result.ok) throw result.error;
      yield { done: true as const, image: result.value as { id: string; repoTags: string[]; repoDigests: string[]; size: number } };
    }),

  push: authed.meta(rest("POST", "/hosts/{hostId}/images/push")).input(z.object({ hostId: HostId, name: ImageName })).mutation(async ({ ctx, input }) => {
    const host = await hostFor(ctx, input.hostId, "operator");
    const registry = await registryAccessFor(ctx.db, ctx.secretBox, host.teamId, domainOf(input.name));
    return (await ctx.gateway.command(input.hostId, "images.push", { name: input.name, registry }, PULL_TIMEOUT_MS)) as { digest: string; size: number; tag: string };
  }),

  tag: authed.meta(rest("POST", "/hosts/{hostId}/images/tag")).input(z.object({ hostId: HostId, source: ImageName, target: ImageName })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    domainOf(input.target);
    return ctx.gateway.command(input.hostId, "images.tag", { source: input.source, target: input.target });
  }),

  remove: authed.meta(rest("POST", "/hosts/{hostId}/images/remove")).input(z.object({ hostId: HostId, name: ImageName, force: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return (await ctx.gateway.command(input.hostId, "images.remove", { name: input.name, force: input.force })) as Array<Record<string, string>>;
  }),

  prune: authed.meta(rest("POST", "/hosts/{hostId}/images/prune")).input(z.object({ hostId: HostId, all: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    await hostFor(ctx, input.hostId, "operator");
    return (await ctx.gateway.command(input.hostId, "images.prune", { all: input.all })) as { ImagesDeleted: unknown[]; SpaceReclaimed: number };
  }),
});
