import { z } from "zod";
import { getContainerPolicy, setContainerPolicy, specPolicyCheck, type ContainerPolicyRules, type ServiceSpec } from "@berth/core";
import { hasRole, requireTeamRole, router, withRole, rest } from "../trpc.ts";
import type { Context } from "../context.ts";

const TeamId = z.string().min(1).max(64);

export const ContainerPolicySchema = z.object({
  allowPrivileged: z.boolean(),
  allowHostNetwork: z.boolean(),
  allowHostPid: z.boolean(),
  allowHostIpc: z.boolean(),
  allowHostUts: z.boolean(),
  bindPrefixes: z.array(z.string().trim().min(1).max(4096).startsWith("/", "bind prefixes are absolute host paths")).max(64),
  allowedCapabilities: z
    .array(
      z
        .string()
        .trim()
        .regex(/^(CAP_)?[A-Za-z_]{2,32}$/, "a capability name such as NET_ADMIN, or ALL"),
    )
    .max(64),
  allowUnconfined: z.boolean(),
  allowDevices: z.boolean(),
}) satisfies z.ZodType<ContainerPolicyRules>;

/**
 * The policy that binds this caller in `teamId`, or null for admins and owners, whom it does not
 * bind. Every route that asks an agent to create a container goes through here.
 */
export async function containerPolicyFor(ctx: Context, teamId: string): Promise<ContainerPolicyRules | null> {
  if (hasRole(ctx, teamId, "admin")) return null;
  return getContainerPolicy(ctx.db, teamId);
}

/**
 * A check of service specs against the policy that binds this caller in `teamId`: a spec whose
 * tasks it would refuse as containers throws. Services and stacks both write specs through it.
 */
export async function serviceSpecPolicy(ctx: Context, teamId: string): Promise<(spec: ServiceSpec) => Promise<void>> {
  return specPolicyCheck(await containerPolicyFor(ctx, teamId));
}

/** A team's container policy: members read it, admins change it (audited like every mutation). */
export const policiesRouter = router({
  get: withRole("viewer")
    .meta(rest("GET", "/teams/{teamId}/container-policy"))
    .input(z.object({ teamId: TeamId }))
    .query(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "viewer");
      return getContainerPolicy(ctx.db, input.teamId);
    }),

  set: withRole("admin")
    .meta(rest("PUT", "/teams/{teamId}/container-policy"))
    .input(ContainerPolicySchema.extend({ teamId: TeamId }))
    .mutation(async ({ ctx, input }) => {
      requireTeamRole(ctx, input.teamId, "admin");
      const { teamId, ...rules } = input;
      return setContainerPolicy(ctx.db, teamId, rules, ctx.user?.id ?? null);
    }),
});
