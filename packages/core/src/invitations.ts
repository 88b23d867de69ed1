import type { Db, Prisma, Role } from "@berth/db";
import { DomainError, notFound } from "./errors.ts";
import { hashSecret, randomSecret } from "./secrets.ts";
import { ensureDefaultTeam } from "./teams.ts";

/*
 * Sign-up is closed: an account is made only with an invitation, a single-use expiring link that
 * names a team and a role. The first owner comes from a `setup` invitation that the control plane
 * prints at start while nobody owns the install, so a dashboard reachable from a network cannot be
 * claimed by whoever opens it first.
 */

/** Invitation links read `inv_` + 48 hex characters (192 bits). */
const INVITE_RE = /^inv_([a-f0-9]{48})$/;
export const INVITE_HEADER = "x-berth-invite";
const SETUP_TTL_MS = 24 * 3600_000;

export const invitationSelect = {
  id: true,
  teamId: true,
  role: true,
  kind: true,
  hint: true,
  note: true,
  createdById: true,
  createdAt: true,
  expiresAt: true,
  usedAt: true,
  usedByEmail: true,
  revokedAt: true,
} satisfies Prisma.InvitationSelect;

export type InvitationView = Prisma.InvitationGetPayload<{ select: typeof invitationSelect }>;
export type InvitationState = "pending" | "used" | "expired" | "revoked";

export function invitationState(i: Pick<InvitationView, "usedAt" | "revokedAt" | "expiresAt">, now = new Date()): InvitationState {
  if (i.usedAt) return "used";
  if (i.revokedAt) return "revoked";
  if (i.expiresAt <= now) return "expired";
  return "pending";
}

export interface CreateInvitationInput {
  teamId: string;
  role: Role;
  createdById: string | null;
  expiresInHours: number;
  note?: string;
  kind?: "invite" | "setup";
}

export async function createInvitation(db: Db, input: CreateInvitationInput): Promise<{ token: string; record: InvitationView }> {
  const secret = randomSecret(24);
  const record = await db.invitation.create({
    data: {
      teamId: input.teamId,
      role: input.role,
      kind: input.kind ?? "invite",
      secretHash: hashSecret(secret),
      hint: secret.slice(0, 6),
      note: input.note ?? "",
      createdById: input.createdById,
      expiresAt: new Date(Date.now() + input.expiresInHours * 3600_000),
    },
    select: invitationSelect,
  });
  return { token: `inv_${secret}`, record };
}

export async function listInvitations(db: Db, teamIds: string[]): Promise<Array<InvitationView & { state: InvitationState }>> {
  const rows = await db.invitation.findMany({
    where: { teamId: { in: teamIds }, kind: "invite" },
    select: invitationSelect,
    orderBy: { createdAt: "desc" },
    take: 500,
  });
  return rows.map((r) => ({ ...r, state: invitationState(r) }));
}

export async function getInvitation(db: Db, id: string): Promise<InvitationView> {
  const row = await db.invitation.findUnique({ where: { id }, select: invitationSelect });
  if (!row) throw notFound("invitation");
  return row;
}

export async function revokeInvitation(db: Db, id: string): Promise<InvitationView> {
  const row = await getInvitation(db, id);
  if (row.usedAt || row.revokedAt) return row;
  return db.invitation.update({ where: { id }, data: { revokedAt: new Date() }, select: invitationSelect });
}

function secretOf(token: string): string {
  const m = INVITE_RE.exec(token.trim());
  if (!m) throw new DomainError("UNAUTHENTICATED", "malformed invitation link");
  return m[1]!;
}

/** What a pending invitation offers, for the sign-up page; never the secret. */
export async function describeInvitation(db: Db, token: string): Promise<{ team: string; role: Role; expiresAt: Date; setup: boolean }> {
  const row = await db.invitation.findUnique({
    where: { secretHash: hashSecret(secretOf(token)) },
    include: { team: { select: { name: true } } },
  });
  if (!row) throw new DomainError("UNAUTHENTICATED", "unknown invitation");
  const state = invitationState(row);
  if (state !== "pending") throw new DomainError("UNAUTHENTICATED", `this invitation was ${state === "used" ? "already used" : state}`);
  return { team: row.team.name, role: row.role, expiresAt: row.expiresAt, setup: row.kind === "setup" };
}

/**
 * Takes a pending invitation for `email`, atomically: of two sign-ups with one link, exactly one
 * gets it. Called before the account is written; the membership follows once the user exists.
 */
export async function claimInvitation(db: Db, token: string, email: string): Promise<void> {
  const hash = hashSecret(secretOf(token));
  const taken = await db.invitation.updateMany({
    where: { secretHash: hash, usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } },
    data: { usedAt: new Date(), usedByEmail: email.toLowerCase() },
  });
  if (taken.count === 1) return;
  const row = await db.invitation.findUnique({ where: { secretHash: hash } });
  if (!row) throw new DomainError("UNAUTHENTICATED", "unknown invitation");
  throw new DomainError(
    "UNAUTHENTICATED",
    `this invitation was ${invitationState(row) === "used" ? "already used" : invitationState(row)}`,
  );
}

/** After the account exists: the membership its invitation named. */
export async function joinByInvitation(db: Db, token: string, userId: string, email: string): Promise<Role> {
  const row = await db.invitation.findUnique({ where: { secretHash: hashSecret(secretOf(token)) } });
  if (!row || row.usedByEmail !== email.toLowerCase())
    throw new DomainError("UNAUTHENTICATED", "the invitation was not claimed by this account");
  await db.membership.upsert({
    where: { userId_teamId: { userId, teamId: row.teamId } },
    update: { role: row.role },
    create: { userId, teamId: row.teamId, role: row.role },
  });
  return row.role;
}

/**
 * While no team has an owner, a fresh setup link (owner of the default team, 24 hours, single use)
 * replaces any earlier one. Returns its token, or null when the install is claimed. Serialized
 * with an advisory lock; of several processes starting together, the last one's link works.
 */
export async function ensureSetupInvitation(db: Db): Promise<string | null> {
  const team = await ensureDefaultTeam(db);
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`select pg_advisory_xact_lock(hashtext('berth:first-owner'))`;
    if ((await tx.membership.count({ where: { role: "owner" } })) > 0) return null;
    await tx.invitation.updateMany({ where: { kind: "setup", usedAt: null, revokedAt: null }, data: { revokedAt: new Date() } });
    const secret = randomSecret(24);
    await tx.invitation.create({
      data: {
        teamId: team.id,
        role: "owner",
        kind: "setup",
        secretHash: hashSecret(secret),
        hint: secret.slice(0, 6),
        note: "first owner",
        expiresAt: new Date(Date.now() + SETUP_TTL_MS),
      },
    });
    return `inv_${secret}`;
  });
}
