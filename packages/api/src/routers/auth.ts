import { authed, publicProcedure, router, rest } from "../trpc.ts";

export const authRouter = router({
  /** The signed-in user and their team roles, or null. Public so the UI can ask before signing in. */
  me: publicProcedure.meta(rest("GET", "/me")).query(({ ctx }) => (ctx.user ? { user: ctx.user, memberships: ctx.memberships } : null)),
  teams: authed.meta(rest("GET", "/teams")).query(async ({ ctx }) =>
    ctx.db.team.findMany({
      where: { id: { in: ctx.memberships.map((m) => m.teamId) } },
      select: { id: true, name: true },
      orderBy: { name: "asc" },
    }),
  ),
});
