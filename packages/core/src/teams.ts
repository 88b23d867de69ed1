import type { Db } from "@berth/db";

export const DEFAULT_TEAM = "default";

/** The team that owns hosts until teams are managed explicitly. Idempotent. */
export async function ensureDefaultTeam(db: Db): Promise<{ id: string }> {
  return db.team.upsert({ where: { name: DEFAULT_TEAM }, update: {}, create: { name: DEFAULT_TEAM }, select: { id: true } });
}

/**
 * Called after a user is created. The first user becomes owner of the default team; later users
 * join as viewers until an owner or admin promotes them. An advisory lock serialises concurrent
 * sign-ups so that exactly one of them becomes owner.
 */
export async function onUserCreated(db: Db, userId: string): Promise<"owner" | "viewer"> {
  const team = await ensureDefaultTeam(db);
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`select pg_advisory_xact_lock(hashtext('berth:first-owner'))`;
    const owners = await tx.membership.count({ where: { role: "owner" } });
    const role = owners === 0 ? "owner" : "viewer";
    await tx.membership.upsert({
      where: { userId_teamId: { userId, teamId: team.id } },
      update: {},
      create: { userId, teamId: team.id, role },
    });
    return role;
  });
}
