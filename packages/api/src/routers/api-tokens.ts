import { z } from "zod";
import { createApiToken, getApiToken, listApiTokens, revokeApiToken } from "@berth/core";
import { TRPCError } from "@trpc/server";
import { hasRole, requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

const RoleSchema = z.enum(["owner", "admin", "operator", "viewer"]);

/** API tokens for automation. Admins and owners manage them; operators and viewers do not. */
export const apiTokensRouter = router({
  create: withRole("admin")
    .meta(rest("POST", "/api-tokens"))
    .input(
      z.object({
        name: z.string().trim().min(1).max(100),
        role: RoleSchema,
        /** The team the token acts in; null makes a token with no team (it can reach nothing team-scoped). */
        teamId: z.string().min(1).max(64).nullable().optional(),
        /** Lifetime in seconds, a minute to two years; null or absent for no expiry. */
        expiresInSeconds: z
          .number()
          .int()
          .min(60)
          .max(2 * 366 * 24 * 3600)
          .nullable()
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const teamId = input.teamId === undefined ? teamsWithRole(ctx, "admin")[0]! : input.teamId;
      // A token makes tokens only in its own team, never one with no team (which it could not cap).
      if (ctx.token && teamId !== ctx.token.teamId)
        throw new TRPCError({ code: "FORBIDDEN", message: "a token can only make tokens for its own team" });
      if (teamId !== null) {
        requireTeamRole(ctx, teamId, "admin");
        // Nobody mints a token stronger than themselves (a token: than its own effective role).
        if (!hasRole(ctx, teamId, input.role))
          throw new TRPCError({
            code: "FORBIDDEN",
            message: `you cannot create a token with the ${input.role} role: it is above your own`,
          });
      }
      const parent = ctx.token ? await getApiToken(ctx.db, ctx.token.id) : null;
      const { token, record } = await createApiToken(ctx.db, {
        name: input.name,
        role: input.role,
        teamId,
        createdById: parent ? parent.createdById : (ctx.user?.id ?? null),
        createdByTokenId: parent?.id ?? null,
        expiresInSeconds: input.expiresInSeconds ?? null,
      });
      // The secret is returned once, here, and never again.
      return { token, record };
    }),

  list: withRole("admin")
    .meta(rest("GET", "/api-tokens"))
    .query(({ ctx }) => listApiTokens(ctx.db, teamsWithRole(ctx, "admin"), ctx.user?.id ?? null)),

  revoke: withRole("admin")
    .meta(rest("POST", "/api-tokens/{id}/revoke"))
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      const t = await getApiToken(ctx.db, input.id);
      if (t.teamId) requireTeamRole(ctx, t.teamId, "admin");
      else if (!ctx.user || t.createdById !== ctx.user.id)
        throw new TRPCError({ code: "FORBIDDEN", message: "only its creator can revoke a token with no team" });
      return revokeApiToken(ctx.db, input.id);
    }),
});
