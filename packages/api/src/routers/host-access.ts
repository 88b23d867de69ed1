import { z } from "zod";
import { getHost } from "@berth/core";
import type { Role } from "@berth/db";
import { requireTeamRole } from "../trpc.ts";
import type { Context } from "../context.ts";

export const HostId = z.string().min(1).max(64);

/** The host, after checking the caller holds `role` in the team that owns it. */
export async function hostFor(ctx: Context, hostId: string, role: Role) {
  const host = await getHost(ctx.db, hostId);
  requireTeamRole(ctx, host.teamId, role);
  return host;
}
