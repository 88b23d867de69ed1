import type { Db, Prisma } from "@berth/db";
import { HostFactsSchema, type HostFacts } from "@berth/protocol";
import { conflict, notFound } from "./errors.ts";
import { revokeHostCredentials } from "./host-credentials.ts";
import { notifyServiceChanged } from "./services/service-store.ts";

export const hostSelect = {
  id: true,
  teamId: true,
  name: true,
  labels: true,
  status: true,
  availability: true,
  lastSeenAt: true,
  agentVersion: true,
  facts: true,
  remoteAddr: true,
  createdAt: true,
} satisfies Prisma.HostSelect;

type HostRow = Prisma.HostGetPayload<{ select: typeof hostSelect }>;

export interface HostView extends Omit<HostRow, "facts" | "labels"> {
  labels: Record<string, string>;
  facts: HostFacts | null;
}

/** Rows hold JSON; parse it back into its types so callers never see `unknown`. */
function toView(h: HostRow): HostView {
  const facts = HostFactsSchema.safeParse(h.facts);
  const labels = h.labels && typeof h.labels === "object" && !Array.isArray(h.labels) ? (h.labels as Record<string, string>) : {};
  return { ...h, labels, facts: facts.success ? facts.data : null };
}

/** One row of the hosts table: the facts a list shows, cut down in Postgres rather than here. */
export interface HostSummary {
  id: string;
  teamId: string;
  name: string;
  labels: Record<string, string>;
  status: "pending" | "online" | "offline";
  lastSeenAt: Date | null;
  agentVersion: string | null;
  remoteAddr: string | null;
  createdAt: Date;
  /** Whether the scheduler may use it: active, pause or drain. */
  availability: "active" | "pause" | "drain";
  os: string | null;
  /** The machine's architecture as Node names it (x64, arm64). */
  arch: string | null;
  cpus: number | null;
  memoryBytes: number | null;
  /** The first address the agent reported. */
  address: string | null;
}

/**
 * The hosts of some teams, for list views. The facts JSON is projected in SQL, so a fleet of
 * thousands costs one small row each instead of its whole facts document.
 */
export async function listHosts(db: Db, teamIds: string[]): Promise<HostSummary[]> {
  if (teamIds.length === 0) return [];
  const rows = await db.$queryRaw<Array<Omit<HostSummary, "memoryBytes"> & { memoryBytes: bigint | null }>>`
    select id, "teamId", name, labels, status::text as status, availability::text as availability, "lastSeenAt", "agentVersion", "remoteAddr", "createdAt",
           facts->'os'->>'prettyName' as os, facts->>'arch' as arch,
           (facts->>'cpus')::int as cpus,
           (facts->>'memoryBytes')::bigint as "memoryBytes",
           facts->'addresses'->0->>'address' as address
    from host
    where "teamId" = any(${teamIds}::text[])
    order by name asc`;
  return rows.map((r) => ({ ...r, memoryBytes: r.memoryBytes === null ? null : Number(r.memoryBytes) }));
}

export async function getHost(db: Db, id: string): Promise<HostView> {
  const h = await db.host.findUnique({ where: { id }, select: hostSelect });
  if (!h) throw notFound("host");
  return toView(h);
}

export async function renameHost(db: Db, id: string, name: string): Promise<HostView> {
  const host = await getHost(db, id);
  const clash = await db.host.findFirst({ where: { teamId: host.teamId, name, NOT: { id } }, select: { id: true } });
  if (clash) throw conflict(`a host named ${name} already exists`);
  const renamed = toView(await db.host.update({ where: { id }, data: { name }, select: hostSelect }));
  await notifyServiceChanged(db, "*"); // the scheduler's view of hosts (node.hostname constraints)
  return renamed;
}

export async function setHostLabels(db: Db, id: string, labels: Record<string, string>): Promise<HostView> {
  await getHost(db, id);
  const labelled = toView(await db.host.update({ where: { id }, data: { labels }, select: hostSelect }));
  await notifyServiceChanged(db, "*"); // the scheduler's view of hosts (node.labels constraints, spread)
  return labelled;
}

/** Revokes the host's credentials and deletes it. The caller disconnects the live link. */
export async function removeHost(db: Db, id: string): Promise<void> {
  await getHost(db, id);
  await revokeHostCredentials(db, id);
  await db.host.delete({ where: { id } });
  await notifyServiceChanged(db, "*"); // its tasks' records lost their host
}
