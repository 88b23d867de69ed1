import { z } from "zod";
import { listAudit } from "@berth/core";
import { router, teamsWithRole, withRole, rest } from "../trpc.ts";

/**
 * The audit log, newest first, filtered and paged on the server. Admins and owners read it.
 * Rows name users, tokens and hosts of any team, so reading needs admin in some team; rows are
 * limited to actors and targets of the caller's teams.
 */
export const auditRouter = router({
  list: withRole("admin")
    .meta(rest("GET", "/audit"))
    .input(
      z.object({
        action: z.string().trim().max(100).optional(),
        actorId: z.string().trim().max(64).optional(),
        target: z.string().trim().max(300).optional(),
        result: z.enum(["ok", "error"]).optional(),
        channel: z.enum(["ui", "trpc", "rest", "cli", "docker", "agent", "system"]).optional(),
        since: z.date().optional(),
        until: z.date().optional(),
        /** The id of the last row of the previous page. */
        cursor: z
          .string()
          .regex(/^\d{1,19}$/)
          .optional(),
        limit: z.number().int().min(1).max(500).default(100),
      }),
    )
    .query(({ ctx, input }) => listAudit(ctx.db, { ...input, teamIds: teamsWithRole(ctx, "admin") })),
});
