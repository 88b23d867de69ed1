import type { Db, Prisma } from "@berth/db";
import { HostFactsSchema, type HostFacts } from "@berth/protocol";
import { conflict, notFound } from "./errors.ts";
import { revokeHostCredentials } from "./host-credentials.ts";

export const hostSelect = {
  id: true,
  teamId: true,
  name: true,
  labels: true,
  status: true,
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

export async function listHosts(db: Db, teamIds: string[]): Promise<HostView[]> {
  const rows = await db.host.findMany({ where: { teamId: { in: teamIds } }, select: hostSelect, orderBy: { name: "asc" } });
  return rows.map(toView);
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
  return toView(await db.host.update({ where: { id }, data: { name }, select: hostSelect }));
}

export async function setHostLabels(db: Db, id: string, labels: Record<string, string>): Promise<HostView> {
  await getHost(db, id);
  return toView(await db.host.update({ where: { id }, data: { labels }, select: hostSelect }));
}

/** Revokes the host's credentials and deletes it. The caller disconnects the live link. */
export async function removeHost(db: Db, id: string): Promise<void> {
  await getHost(db, id);
  await revokeHostCredentials(db, id);
  await db.host.delete({ where: { id } });
}
