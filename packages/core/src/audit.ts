import type { Db, Prisma } from "@berth/db";

export type AuditChannel = "ui" | "trpc" | "rest" | "cli" | "agent" | "system";

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
