import { z } from "zod";
import { changeMembership, listTeamMembers } from "@berth/core";
import { TRPCError } from "@trpc/server";
import { hasRole, requireTeamRole, router, withRole, rest } from "../trpc.ts";

const TeamId = z.string().min(1).max(64);
const RoleSchema = z.enum(["owner", "admin", "operator", "viewer"]);

/** Who is in a team, with which role. Admins manage members; only owners grant or take away ownership. */
export const teamsRouter = router({
  members: withRole("admin")
    .meta(rest("GET", "/teams/{teamId}/members"))
    .input(z.object({ teamId: TeamId }))
    .query(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      return listTeamMembers(ctx.db, input.teamId);
    }),

  setRole: withRole("admin")
    .meta(rest("PUT", "/teams/{teamId}/members/{userId}"))
    .input(z.object({ teamId: TeamId, userId: z.string().min(1).max(64), role: RoleSchema }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      const current = (await listTeamMembers(ctx.db, input.teamId)).find((m) => m.userId === input.userId);
      if ((input.role === "owner" || current?.role === "owner") && !hasRole(ctx, input.teamId, "owner")) {
        throw new TRPCError({ code: "FORBIDDEN", message: "only an owner grants or takes away the owner role" });
      }
      await changeMembership(ctx.db, input.teamId, input.userId, input.role);
      return { userId: input.userId, role: input.role };
    }),

  removeMember: withRole("admin")
    .meta(rest("DELETE", "/teams/{teamId}/members/{userId}"))
    .input(z.object({ teamId: TeamId, userId: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      const current = (await listTeamMembers(ctx.db, input.teamId)).find((m) => m.userId === input.userId);
      if (current?.role === "owner" && !hasRole(ctx, input.teamId, "owner"))
        throw new TRPCError({ code: "FORBIDDEN", message: "only an owner removes an owner" });
      await changeMembership(ctx.db, input.teamId, input.userId, null);
      return { userId: input.userId };
    }),
});
