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
  /** The user behind it: its maker, or the user behind the token that made it. */
  createdById: string | null;
  /** The token that made this one, if a token did. */
  createdByTokenId?: string | null;
  expiresInSeconds?: number | null;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };
const lower = (a: Role, b: Role): Role => (RANK[a] <= RANK[b] ? a : b);
/** Tokens made by tokens are followed this far up; a longer chain is refused rather than walked. */
const MAX_TOKEN_CHAIN = 8;

/** Everything but the secret, which is shown once at creation and never stored. */
export const apiTokenSelect = {
  id: true,
  name: true,
  role: true,
  teamId: true,
  hint: true,
  createdById: true,
  createdByTokenId: true,
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
      createdByTokenId: input.createdByTokenId ?? null,
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
export async function listApiTokens(
  db: Db,
  teamIds: string[],
  userId: string | null,
): Promise<Array<ApiTokenView & { state: ReturnType<typeof apiTokenState> }>> {
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

/** Revokes a token and every token made from it, down the chain. */
export async function revokeApiToken(db: Db, id: string): Promise<ApiTokenView> {
  await getApiToken(db, id);
  await db.$executeRaw`
    with recursive chain as (
      select id from api_token where id = ${id}
      union select t.id from api_token t join chain c on t."createdByTokenId" = c.id
    )
    update api_token set "revokedAt" = now() where id in (select id from chain) and "revokedAt" is null`;
  return getApiToken(db, id);
}

/** A user left a team: the tokens they made for it (and those made from those) die with their membership. */
export async function revokeTokensOfMember(db: Db, userId: string, teamId: string): Promise<number> {
  const roots = await db.apiToken.findMany({ where: { createdById: userId, teamId, revokedAt: null }, select: { id: true } });
  for (const r of roots) await revokeApiToken(db, r.id);
  return roots.length;
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
  const role = await effectiveRole(db, row, now);
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  return { id: row.id, name: row.name, role, teamId: row.teamId };
}

/**
 * A token acts with the lowest role along its chain: its own, that of each token it was made from,
 * and its maker's role in the team today. A token whose parent is no longer active, or whose maker
 * has left the team (or the install), acts with nothing: it is refused.
 */
async function effectiveRole(db: Db, token: ApiTokenView, now: Date): Promise<Role> {
  let role = token.role;
  let cur = token;
  for (let depth = 0; cur.createdByTokenId; depth++) {
    if (depth >= MAX_TOKEN_CHAIN) throw new DomainError("UNAUTHENTICATED", "API token chain too long");
    const parent = await db.apiToken.findUnique({ where: { id: cur.createdByTokenId }, select: apiTokenSelect });
    if (!parent || apiTokenState(parent, now) !== "active")
      throw new DomainError("UNAUTHENTICATED", "API token made by a token that is no longer active");
    role = lower(role, parent.role);
    cur = parent;
  }
  if (cur.createdById) {
    if (token.teamId) {
      const m = await db.membership.findUnique({
        where: { userId_teamId: { userId: cur.createdById, teamId: token.teamId } },
        select: { role: true },
      });
      if (!m) throw new DomainError("UNAUTHENTICATED", "API token's creator is no longer in its team");
      role = lower(role, m.role);
    } else if (!(await db.user.findUnique({ where: { id: cur.createdById }, select: { id: true } }))) {
      throw new DomainError("UNAUTHENTICATED", "API token's creator no longer exists");
    }
  }
  return role;
}
