import type { Db, Prisma, Role } from "@berth/db";
import { DomainError, notFound } from "./errors.ts";
import { hashSecret, randomSecret } from "./secrets.ts";

/** API tokens read `berth_` + 48 hex characters (192 bits): recognisable in logs and secret scanners. */
export const API_TOKEN_PREFIX = "berth_";
const TOKEN_RE = /^berth_([a-f0-9]{48})$/;

export interface CreateApiTokenInput {
  name: string;
  role: Role;
  /** null: a token with no team, which reaches nothing team-scoped. */
  teamId: string | null;
  createdById: string | null;
  expiresInSeconds?: number | null;
}

/** Everything but the secret, which is shown once at creation and never stored. */
export const apiTokenSelect = {
  id: true,
  name: true,
  role: true,
  teamId: true,
  hint: true,
  createdById: true,
  createdAt: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
} satisfies Prisma.ApiTokenSelect;

export type ApiTokenView = Prisma.ApiTokenGetPayload<{ select: typeof apiTokenSelect }>;

/** Who a valid token acts as. */
export interface TokenPrincipal {
  id: string;
  name: string;
  role: Role;
  teamId: string | null;
}

export async function createApiToken(db: Db, input: CreateApiTokenInput): Promise<{ token: string; record: ApiTokenView }> {
  const secret = randomSecret(24);
  const record = await db.apiToken.create({
    data: {
      name: input.name,
      role: input.role,
      teamId: input.teamId,
      secretHash: hashSecret(secret),
      hint: secret.slice(0, 6),
      createdById: input.createdById,
      expiresAt: input.expiresInSeconds ? new Date(Date.now() + input.expiresInSeconds * 1000) : null,
    },
    select: apiTokenSelect,
  });
  return { token: `${API_TOKEN_PREFIX}${secret}`, record };
}

export function apiTokenState(t: Pick<ApiTokenView, "revokedAt" | "expiresAt">, now = new Date()): "active" | "expired" | "revoked" {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && t.expiresAt <= now) return "expired";
  return "active";
}

/** Tokens of `teamIds`, plus the team-less ones `userId` created. */
export async function listApiTokens(db: Db, teamIds: string[], userId: string | null): Promise<Array<ApiTokenView & { state: ReturnType<typeof apiTokenState> }>> {
  const rows = await db.apiToken.findMany({
    where: { OR: [{ teamId: { in: teamIds } }, ...(userId ? [{ teamId: null, createdById: userId }] : [])] },
    select: apiTokenSelect,
    orderBy: { createdAt: "desc" },
  });
  return rows.map((r) => ({ ...r, state: apiTokenState(r) }));
}

export async function getApiToken(db: Db, id: string): Promise<ApiTokenView> {
  const t = await db.apiToken.findUnique({ where: { id }, select: apiTokenSelect });
  if (!t) throw notFound("API token");
  return t;
}

export async function revokeApiToken(db: Db, id: string): Promise<ApiTokenView> {
  const t = await getApiToken(db, id);
  if (t.revokedAt) return t;
  return db.apiToken.update({ where: { id }, data: { revokedAt: new Date() }, select: apiTokenSelect });
}

/** lastUsedAt is written at most this often per token, so a busy script does not write on every call. */
const LAST_USED_GRANULARITY_MS = 60_000;

/**
 * The principal a bearer token acts as. A malformed, unknown, revoked or expired token is an
 * UNAUTHENTICATED error naming which (never a silent anonymous caller).
 */
export async function authenticateApiToken(db: Db, token: string, now = new Date()): Promise<TokenPrincipal> {
  const m = TOKEN_RE.exec(token);
  if (!m) throw new DomainError("UNAUTHENTICATED", "malformed API token (expected berth_ and 48 hex characters)");
  const row = await db.apiToken.findUnique({ where: { secretHash: hashSecret(m[1]!) }, select: { ...apiTokenSelect } });
  if (!row) throw new DomainError("UNAUTHENTICATED", "unknown API token");
  const state = apiTokenState(row, now);
  if (state !== "active") throw new DomainError("UNAUTHENTICATED", `API token ${state}`);
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  return { id: row.id, name: row.name, role: row.role, teamId: row.teamId };
}
