import { z } from "zod";
import { ServiceFileLabelsSchema, type ServiceFileKind, type ServiceFileView } from "@berth/core";
import { authed, requireTeamRole, rest, router, teamsWithRole, withRole } from "../trpc.ts";
import type { Context } from "../context.ts";

/*
 * Secrets and configs: named data that services give their tasks as files. Operators create,
 * relabel and remove them; viewers list them. A secret's data goes in and never comes out; a
 * config's is shown (as in Swarm). Every change is audited, without its data (`authed`).
 */

const Id = z.string().min(1).max(64);
/** Base64 of up to 500 KiB (the store checks the decoded size and says so). */
const Data = z
  .string()
  .max(700 * 1024)
  .base64();

function serviceFileRouter(kind: ServiceFileKind, path: "/secrets" | "/configs") {
  async function find(ctx: Context, id: string, min: "viewer" | "operator"): Promise<ServiceFileView> {
    const f = await ctx.serviceFiles.get(id, kind);
    requireTeamRole(ctx, f.teamId, min);
    return f;
  }
  return router({
    list: authed.meta(rest("GET", path)).query(({ ctx }) => ctx.serviceFiles.list(teamsWithRole(ctx, "viewer"), kind)),

    get: authed
      .meta(rest("GET", `${path}/{id}`))
      .input(z.object({ id: Id }))
      .query(({ ctx, input }) => find(ctx, input.id, "viewer")),

    create: withRole("operator")
      .meta(rest("POST", path))
      .input(z.object({ teamId: Id, name: z.string().max(64), labels: ServiceFileLabelsSchema.optional(), data: Data }))
      .mutation(({ ctx, input }) => {
        requireTeamRole(ctx, input.teamId, "operator");
        return ctx.serviceFiles.create(
          input.teamId,
          kind,
          { name: input.name, labels: input.labels ?? {}, data: Buffer.from(input.data, "base64") },
          ctx.user?.id ?? null,
        );
      }),

    /** Labels only: the data of a secret or config never changes (make a new one and update the services). */
    update: withRole("operator")
      .meta(rest("PATCH", `${path}/{id}`))
      .input(
        z.object({
          id: Id,
          version: z.number().int().min(1),
          labels: ServiceFileLabelsSchema,
          /** Accepted only if it is the data already stored (a redeploy sends it again). */
          data: Data.optional(),
        }),
      )
      .mutation(async ({ ctx, input }) => {
        await find(ctx, input.id, "operator");
        return ctx.serviceFiles.update(input.id, kind, input.version, {
          labels: input.labels,
          ...(input.data ? { data: Buffer.from(input.data, "base64") } : {}),
        });
      }),

    remove: withRole("operator")
      .meta(rest("DELETE", `${path}/{id}`))
      .input(z.object({ id: Id }))
      .mutation(async ({ ctx, input }) => {
        await find(ctx, input.id, "operator");
        await ctx.serviceFiles.remove(input.id, kind);
        return { ok: true as const };
      }),
  });
}

export const secretsRouter = serviceFileRouter("secret", "/secrets");
export const configsRouter = serviceFileRouter("config", "/configs");
