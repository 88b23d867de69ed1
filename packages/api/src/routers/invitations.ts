import { z } from "zod";
import { createInvitation, describeInvitation, getInvitation, listInvitations, revokeInvitation } from "@berth/core";
import { TRPCError } from "@trpc/server";
import { hasRole, publicProcedure, requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

const RoleSchema = z.enum(["owner", "admin", "operator", "viewer"]);
const InviteToken = z.string().trim().max(64);

/** Invitation links: the only way into a team. Admins make, list and revoke them; only owners invite owners. */
export const invitationsRouter = router({
  create: withRole("admin")
    .meta(rest("POST", "/invitations"))
    .input(
      z.object({
        teamId: z.string().min(1).max(64),
        role: RoleSchema,
        /** Hours until the link stops working: one hour to 30 days (default 72). */
        expiresInHours: z.number().int().min(1).max(720).default(72),
        note: z.string().trim().max(200).default(""),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      if (!hasRole(ctx, input.teamId, input.role))
        throw new TRPCError({ code: "FORBIDDEN", message: `you cannot invite someone as ${input.role}: it is above your own role` });
      const { token, record } = await createInvitation(ctx.db, {
        teamId: input.teamId,
        role: input.role,
        expiresInHours: input.expiresInHours,
        note: input.note,
        createdById: ctx.user?.id ?? null,
      });
      // The link is returned once, here, and never again: only its hash is stored.
      return { link: `${ctx.publicUrl}/signup?invite=${token}`, record };
    }),

  list: withRole("admin")
    .meta(rest("GET", "/invitations"))
    .query(({ ctx }) => listInvitations(ctx.db, teamsWithRole(ctx, "admin"))),

  revoke: withRole("admin")
    .meta(rest("POST", "/invitations/{id}/revoke"))
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      const inv = await getInvitation(ctx.db, input.id);
      requireTeamRole(ctx, inv.teamId, "admin");
      return revokeInvitation(ctx.db, input.id);
    }),

  /** What a link offers, for the sign-up page. The link itself is the credential, so no session is needed. */
  lookup: publicProcedure.input(z.object({ token: InviteToken })).query(({ ctx, input }) => describeInvitation(ctx.db, input.token)),
});
