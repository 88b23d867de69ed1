import { z } from "zod";
import { FLEET_SORTS, globalSearch, listFleet } from "@berth/core";
import { INVENTORY_KINDS } from "@berth/protocol";
import { authed, router, teamsWithRole, rest } from "../trpc.ts";

/** Fleet-wide tables and search over the inventory agents report; each caller sees their teams' hosts. */
export const fleetRouter = router({
  list: authed
    .meta(rest("GET", "/fleet/{kind}"))
    .input(
      z.object({
        kind: z.enum(INVENTORY_KINDS),
        hostId: z.string().min(1).max(64).optional(),
        q: z.string().max(200).optional(),
        state: z.string().max(32).optional(),
        sort: z.enum(FLEET_SORTS).default("name"),
        dir: z.enum(["asc", "desc"]).default("asc"),
        offset: z.number().int().min(0).max(1_000_000).default(0),
        limit: z.number().int().min(1).max(500).default(50),
      }),
    )
    .query(({ ctx, input }) => listFleet(ctx.db, { ...input, teamIds: teamsWithRole(ctx, "viewer") })),

  search: authed
    .meta(rest("GET", "/search"))
    .input(z.object({ q: z.string().trim().min(1).max(200) }))
    .query(({ ctx, input }) => globalSearch(ctx.db, teamsWithRole(ctx, "viewer"), input.q)),
});
