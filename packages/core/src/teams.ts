import type { Db, Role } from "@berth/db";
import { conflict, notFound } from "./errors.ts";
import { revokeTokensOfMember } from "./api-tokens.ts";

export const DEFAULT_TEAM = "default";

/** The team that owns hosts until teams are managed explicitly. Idempotent. */
export async function ensureDefaultTeam(db: Db): Promise<{ id: string }> {
  return db.team.upsert({ where: { name: DEFAULT_TEAM }, update: {}, create: { name: DEFAULT_TEAM }, select: { id: true } });
}

export interface TeamMember {
  userId: string;
  email: string;
  name: string;
  role: Role;
  since: Date;
}

export async function listTeamMembers(db: Db, teamId: string): Promise<TeamMember[]> {
  const rows = await db.membership.findMany({
    where: { teamId },
    include: { user: { select: { email: true, name: true } } },
    orderBy: { createdAt: "asc" },
  });
  return rows.map((r) => ({ userId: r.userId, email: r.user.email, name: r.user.name, role: r.role, since: r.createdAt }));
}

/**
 * Changes a member's role, or removes them (role null). A team never loses its last owner: the
 * count and the change happen under one lock, so two concurrent demotions cannot both pass.
 */
export async function changeMembership(db: Db, teamId: string, userId: string, role: Role | null): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`select pg_advisory_xact_lock(hashtext('berth:team-owners'), hashtext(${teamId}))`;
    const m = await tx.membership.findUnique({ where: { userId_teamId: { userId, teamId } } });
    if (!m) throw notFound("team member");
    if (m.role === "owner" && role !== "owner") {
      const owners = await tx.membership.count({ where: { teamId, role: "owner" } });
      if (owners <= 1) throw conflict("a team keeps at least one owner: make someone else owner first");
    }
    if (role === null) await tx.membership.delete({ where: { id: m.id } });
    else await tx.membership.update({ where: { id: m.id }, data: { role } });
  });
  // The tokens they made for this team go with them (a lowered role caps them as they are used).
  if (role === null) await revokeTokensOfMember(db, userId, teamId);
}
