// Reading builds back: the history of a team's builds and one build's log, in pieces from a
// cursor (the piece number), for the dashboard, the API and the live log stream.
import type { Db } from "@berth/db";
import { notFound } from "../errors.ts";

export interface BuildView {
  id: string;
  teamId: string;
  hostId: string | null;
  hostName: string;
  createdByName: string;
  status: string;
  sourceKind: string;
  gitUrl: string | null;
  gitRef: string | null;
  gitPath: string | null;
  gitCommit: string | null;
  dockerfile: string;
  tags: string[];
  target: string | null;
  noCache: boolean;
  push: boolean;
  imageId: string | null;
  error: string | null;
  logBytes: number;
  logDropped: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Milliseconds from start to end (or to now while running). */
  durationMs: number | null;
}

const SELECT = {
  id: true,
  teamId: true,
  hostId: true,
  hostName: true,
  createdByName: true,
  status: true,
  sourceKind: true,
  gitUrl: true,
  gitRef: true,
  gitPath: true,
  gitCommit: true,
  dockerfile: true,
  tags: true,
  target: true,
  noCache: true,
  push: true,
  imageId: true,
  error: true,
  logBytes: true,
  logDropped: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
} as const;

function view(b: Omit<BuildView, "durationMs">): BuildView {
  const end = b.finishedAt ?? (b.startedAt ? new Date() : null);
  return { ...b, durationMs: b.startedAt && end ? end.getTime() - b.startedAt.getTime() : null };
}

export async function listBuilds(db: Db, teamIds: string[], opts: { hostId?: string; limit?: number } = {}): Promise<BuildView[]> {
  const rows = await db.build.findMany({
    where: { teamId: { in: teamIds }, ...(opts.hostId ? { hostId: opts.hostId } : {}) },
    orderBy: { createdAt: "desc" },
    take: Math.min(opts.limit ?? 100, 500),
    select: SELECT,
  });
  return rows.map(view);
}

export async function getBuild(db: Db, id: string): Promise<BuildView> {
  const b = await db.build.findUnique({ where: { id }, select: SELECT });
  if (!b) throw notFound("build");
  return view(b);
}

/** Log pieces after `after` (0: from the start), at most `limit`. */
export async function buildLogPieces(db: Db, id: string, after: number, limit = 100): Promise<Array<{ seq: number; text: string }>> {
  return db.buildLogChunk.findMany({
    where: { buildId: id, seq: { gt: after } },
    orderBy: { seq: "asc" },
    take: Math.min(limit, 500),
    select: { seq: true, text: true },
  });
}
