import { z } from "zod";
import { createJoinToken, getJoinToken, listJoinTokens, revokeJoinToken } from "@berth/core";
import { AGENT_PATHS } from "@berth/protocol";
import { requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

/**
 * The one-line install command an operator pastes on a new server. Behind a self-signed
 * certificate, curl pins its public key, so the script and the agent are as authentic as the
 * pinned link that follows.
 */
export function installCommand(publicUrl: string, token: string, spkiPin: string | null = null): string {
  const base = publicUrl.replace(/\/+$/, "");
  if (!spkiPin) return `curl -fsSL ${base}${AGENT_PATHS.install} | sudo sh -s -- --url ${base} --token ${token}`;
  const pin = `sha256//${spkiPin}`;
  return (
    `curl -fsSLk --pinnedpubkey ${pin} ${base}${AGENT_PATHS.install} | ` +
    `sudo sh -s -- --url ${base} --pinnedpubkey ${pin} --token ${token}`
  );
}

export const joinTokensRouter = router({
  create: withRole("admin")
    .meta(rest("POST", "/join-tokens"))
    .input(
      z.object({
        teamId: z.string().min(1).max(64).optional(),
        description: z.string().trim().max(200).default(""),
        /** Lifetime in seconds: at least a minute, at most a year; null for no expiry. */
        expiresInSeconds: z
          .number()
          .int()
          .min(60)
          .max(366 * 24 * 3600)
          .nullable()
          .default(24 * 3600),
        /** Hosts it may join: one by default; null for no limit. */
        maxUses: z.number().int().min(1).max(10_000).nullable().default(1),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const teamId = input.teamId ?? teamsWithRole(ctx, "admin")[0]!;
      requireTeamRole(ctx, teamId, "admin");
      const { token, record } = await createJoinToken(ctx.db, {
        teamId,
        description: input.description,
        expiresInSeconds: input.expiresInSeconds,
        maxUses: input.maxUses,
        createdById: ctx.user?.id ?? null,
        fingerprint: ctx.fingerprint,
      });
      // The secret is returned once, here, and never again.
      return { token, record, command: installCommand(ctx.publicUrl, token, ctx.spkiPin) };
    }),

  list: withRole("admin")
    .meta(rest("GET", "/join-tokens"))
    .query(({ ctx }) => listJoinTokens(ctx.db, teamsWithRole(ctx, "admin"))),

  revoke: withRole("admin")
    .meta(rest("POST", "/join-tokens/{id}/revoke"))
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getJoinToken(ctx.db, input.id)).teamId, "admin");
      return revokeJoinToken(ctx.db, input.id);
    }),
});
