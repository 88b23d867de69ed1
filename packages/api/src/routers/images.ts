import { z } from "zod";
import { listHosts, registryAccessFor } from "@berth/core";
import { InvalidReferenceError, parseReference } from "@berth/protocol/reference";
import { TRPCError } from "@trpc/server";
import { authed, router, rest, teamsWithRole } from "../trpc.ts";
import { HostId, hostFor } from "./host-access.ts";
import { pullProgress, type PullEvent } from "../progress/pull-progress.ts";

const ImageName = z.string().trim().min(1).max(512);
const PULL_TIMEOUT_MS = 30 * 60_000;
/** A client-chosen id for following a pull's progress (a UUID: unguessable by other callers). */
const ProgressId = z.uuid();

function domainOf(reference: string): string {
  try {
    return parseReference(reference).domain;
  } catch (e) {
    throw new TRPCError({ code: "BAD_REQUEST", message: e instanceof InvalidReferenceError ? e.message : "invalid reference format" });
  }
}

/** Images on one host, relayed to its agent over the link. */
export const imagesRouter = router({
  list: authed
    .meta(rest("GET", "/hosts/{hostId}/images"))
    .input(z.object({ hostId: HostId }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "images.list", {});
    }),

  inspect: authed
    .meta(rest("GET", "/hosts/{hostId}/images/inspect"))
    .input(z.object({ hostId: HostId, name: ImageName }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "images.inspect", { name: input.name });
    }),

  history: authed
    .meta(rest("GET", "/hosts/{hostId}/images/history"))
    .input(z.object({ hostId: HostId, name: ImageName }))
    .query(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "viewer");
      return ctx.gateway.command(input.hostId, "images.history", { name: input.name });
    }),

  /**
   * Pulls on a host and answers with the image once it is there (a mutation: a link another site
   * opens cannot start a pull). Credentials for the image's registry come from the team's
   * registries and go to the agent only. With `progressId`, Docker-like progress
   * ({ id, status, current?, total? }) goes to `pullProgress` subscribers of that id.
   */
  /**
   * What a registry holds for a reference (digest, platforms), asked through one of the caller's
   * linked hosts (the control plane itself reaches no registry), with the team's registry login.
   */
  distribution: authed
    .meta(rest("GET", "/images/distribution"))
    .input(z.object({ reference: ImageName, hostId: HostId.optional() }))
    .query(async ({ ctx, input }) => {
      const hosts = input.hostId ? [await hostFor(ctx, input.hostId, "viewer")] : await listHosts(ctx.db, teamsWithRole(ctx, "viewer"));
      const host = hosts.find((h) => ctx.gateway.isConnected(h.id));
      if (!host) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "no linked host to ask the registry through" });
      const registry = await registryAccessFor(ctx.db, ctx.secretBox, host.teamId, domainOf(input.reference));
      return ctx.gateway.command(host.id, "images.distribution", { reference: input.reference, registry });
    }),

  pull: authed
    .meta(rest("POST", "/hosts/{hostId}/images/pull"))
    .input(z.object({ hostId: HostId, reference: ImageName, platform: z.string().max(64).optional(), progressId: ProgressId.optional() }))
    .mutation(async ({ ctx, input }) => {
      const host = await hostFor(ctx, input.hostId, "operator");
      const registry = await registryAccessFor(ctx.db, ctx.secretBox, host.teamId, domainOf(input.reference));
      const key = input.progressId ? `${input.hostId}/${input.progressId}` : null;
      try {
        const image = await ctx.gateway.command(
          input.hostId,
          "images.pull",
          { reference: input.reference, registry, ...(input.platform ? { platform: input.platform } : {}) },
          { timeoutMs: PULL_TIMEOUT_MS, ...(key ? { onProgress: (progress) => pullProgress.emit(key, { done: false, progress }) } : {}) },
        );
        if (key) pullProgress.emit(key, { done: true, image });
        return image;
      } catch (e) {
        if (key) pullProgress.emit(key, { done: true, error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
    }),

  /** A pull's progress as it happens, for whoever started it with this `progressId` (read-only). */
  pullProgress: authed.input(z.object({ hostId: HostId, progressId: ProgressId })).subscription(async function* ({ ctx, input, signal }) {
    await hostFor(ctx, input.hostId, "viewer");
    const queue: PullEvent[] = [];
    let wake: (() => void) | null = null;
    let unwatch: () => void;
    try {
      unwatch = pullProgress.watch(`${input.hostId}/${input.progressId}`, (e) => {
        // Progress is a stream of per-layer states: a reader far behind loses old ones, never the end.
        if (queue.length >= 1000 && !e.done) queue.shift();
        queue.push(e);
        wake?.();
      });
    } catch (e) {
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: (e as Error).message });
    }
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      while (!signal?.aborted) {
        const e = queue.shift();
        if (!e) {
          await new Promise<void>((r) => (wake = r));
          wake = null;
          continue;
        }
        yield e;
        if (e.done) return;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      unwatch();
    }
  }),

  push: authed
    .meta(rest("POST", "/hosts/{hostId}/images/push"))
    .input(z.object({ hostId: HostId, name: ImageName }))
    .mutation(async ({ ctx, input }) => {
      const host = await hostFor(ctx, input.hostId, "operator");
      const registry = await registryAccessFor(ctx.db, ctx.secretBox, host.teamId, domainOf(input.name));
      return ctx.gateway.command(input.hostId, "images.push", { name: input.name, registry }, { timeoutMs: PULL_TIMEOUT_MS });
    }),

  tag: authed
    .meta(rest("POST", "/hosts/{hostId}/images/tag"))
    .input(z.object({ hostId: HostId, source: ImageName, target: ImageName }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      domainOf(input.target);
      return ctx.gateway.command(input.hostId, "images.tag", { source: input.source, target: input.target });
    }),

  remove: authed
    .meta(rest("POST", "/hosts/{hostId}/images/remove"))
    .input(z.object({ hostId: HostId, name: ImageName, force: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "images.remove", { name: input.name, force: input.force });
    }),

  prune: authed
    .meta(rest("POST", "/hosts/{hostId}/images/prune"))
    .input(z.object({ hostId: HostId, all: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
      await hostFor(ctx, input.hostId, "operator");
      return ctx.gateway.command(input.hostId, "images.prune", { all: input.all });
    }),
});
