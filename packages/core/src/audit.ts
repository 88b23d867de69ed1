import type { Db, Prisma } from "@berth/db";

export type AuditChannel = "ui" | "trpc" | "rest" | "cli" | "docker" | "agent" | "system";

export interface AuditEntry {
  actorType: "user" | "token" | "agent" | "system";
  actorId?: string | null;
  action: string;
  target?: string | null;
  result: "ok" | "error";
  detail?: Prisma.InputJsonValue;
  sourceIp?: string | null;
  channel: AuditChannel;
}

/** Appends one audit row. The table is append-only: nothing in Berth updates or deletes rows. */
export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db.auditLog.create({
    data: {
      actorType: entry.actorType,
      actorId: entry.actorId ?? null,
      action: entry.action,
      target: entry.target ?? null,
      result: entry.result,
      ...(entry.detail === undefined ? {} : { detail: entry.detail }),
      sourceIp: entry.sourceIp ?? null,
      channel: entry.channel,
    },
  });
}

export interface AuditQuery {
  /** Rows of these teams only: their members', tokens' and hosts' (as actor or target). */
  teamIds: string[];
  action?: string;
  actorId?: string;
  target?: string;
  result?: "ok" | "error";
  channel?: AuditChannel;
  since?: Date;
  until?: Date;
  cursor?: string;
  limit: number;
}

export interface AuditRow {
  id: string;
  at: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  target: string | null;
  result: string;
  detail: unknown;
  sourceIp: string | null;
  channel: string;
}

/** Newest first; `nextCursor` pages on. `action` and `target` match as prefixes (hosts.* , a host id). */
export async function listAudit(db: Db, q: AuditQuery): Promise<{ rows: AuditRow[]; nextCursor: string | null }> {
  const [members, tokens, hosts] = await Promise.all([
    db.membership.findMany({ where: { teamId: { in: q.teamIds } }, select: { userId: true } }),
    db.apiToken.findMany({ where: { teamId: { in: q.teamIds } }, select: { id: true } }),
    db.host.findMany({ where: { teamId: { in: q.teamIds } }, select: { id: true } }),
  ]);
  const actors = [...members.map((m) => m.userId), ...tokens.map((t) => t.id), ...hosts.map((h) => h.id)];
  const hostIds = hosts.map((h) => h.id);
  const where: Prisma.AuditLogWhereInput = {
    AND: [
      { OR: [{ actorId: { in: actors } }, { target: { in: hostIds } }, ...hostIds.map((id) => ({ target: { startsWith: `${id}:` } }))] },
      ...(q.action ? [{ action: { startsWith: q.action } }] : []),
      ...(q.actorId ? [{ actorId: q.actorId }] : []),
      ...(q.target ? [{ target: { startsWith: q.target } }] : []),
      ...(q.result ? [{ result: q.result }] : []),
      ...(q.channel ? [{ channel: q.channel }] : []),
      ...(q.since ? [{ at: { gte: q.since } }] : []),
      ...(q.until ? [{ at: { lte: q.until } }] : []),
      ...(q.cursor ? [{ id: { lt: BigInt(q.cursor) } }] : []),
    ],
  };
  const rows = await db.auditLog.findMany({ where, orderBy: { id: "desc" }, take: q.limit + 1 });
  const page = rows.slice(0, q.limit).map((r) => ({ ...r, id: r.id.toString() }));
  return { rows: page, nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}
