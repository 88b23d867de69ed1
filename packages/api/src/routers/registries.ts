import { z } from "zod";
import { createRegistry, getRegistry, listRegistries, removeRegistry, updateRegistry } from "@berth/core";
import { requireTeamRole, router, teamsWithRole, withRole, rest } from "../trpc.ts";

const Id = z.object({ id: z.string().min(1).max(64) });
const Username = z.string().trim().max(255).nullable().optional();
const Password = z.string().max(4096).nullable().optional();

/** Registries a team pulls from and pushes to. Passwords go in, never out. */
export const registriesRouter = router({
  list: withRole("operator")
    .meta(rest("GET", "/registries"))
    .query(({ ctx }) => listRegistries(ctx.db, teamsWithRole(ctx, "operator"))),

  create: withRole("admin")
    .meta(rest("POST", "/registries"))
    .input(
      z.object({
        teamId: z.string().min(1).max(64).optional(),
        address: z.string().trim().min(1, "enter the registry's address, e.g. ghcr.io or http://10.0.0.5:5000").max(300),
        insecure: z.boolean().optional(),
        username: Username,
        password: Password,
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const teamId = input.teamId ?? teamsWithRole(ctx, "admin")[0]!;
      requireTeamRole(ctx, teamId, "admin");
      return createRegistry(ctx.db, ctx.secretBox, {
        teamId,
        address: input.address,
        ...(input.insecure !== undefined ? { insecure: input.insecure } : {}),
        username: input.username ?? null,
        password: input.password ?? null,
      });
    }),

  update: withRole("admin")
    .meta(rest("PATCH", "/registries/{id}"))
    .input(Id.extend({ insecure: z.boolean().optional(), username: Username, password: Password }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getRegistry(ctx.db, input.id)).teamId, "admin");
      const { id, ...rest } = input;
      return updateRegistry(ctx.db, ctx.secretBox, id, rest);
    }),

  remove: withRole("admin")
    .meta(rest("DELETE", "/registries/{id}"))
    .input(Id)
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, (await getRegistry(ctx.db, input.id)).teamId, "admin");
      await removeRegistry(ctx.db, input.id);
      return { id: input.id };
    }),
});
