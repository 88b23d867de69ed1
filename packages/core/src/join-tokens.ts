import type { Db, Prisma } from "@berth/db";
import { formatJoinToken, JoinTokenFormatError, parseJoinToken, type HostFacts } from "@berth/protocol";
import { JoinTokenError, notFound } from "./errors.ts";
import { hashSecret, randomSecret } from "./secrets.ts";

export interface CreateJoinTokenInput {
  teamId: string;
  description?: string;
  /** Seconds until the token expires; null or undefined for never. */
  expiresInSeconds?: number | null;
  /** Hosts it may join; one unless given (a leaked token then joins nothing more); null for no limit. */
  maxUses?: number | null;
  createdById?: string | null;
  /** sha256 of the control plane's TLS certificate, or null when it serves plain HTTP. */
  fingerprint: string | null;
}

/** The public view of a token: everything but the secret, which is never stored. */
export const joinTokenSelect = {
  id: true,
  teamId: true,
  hint: true,
  description: true,
  expiresAt: true,
  maxUses: true,
  uses: true,
  revokedAt: true,
  createdAt: true,
} satisfies Prisma.JoinTokenSelect;

export type JoinTokenView = Prisma.JoinTokenGetPayload<{ select: typeof joinTokenSelect }>;

export async function createJoinToken(db: Db, input: CreateJoinTokenInput): Promise<{ token: string; record: JoinTokenView }> {
  const secret = randomSecret(24);
  const record = await db.joinToken.create({
    data: {
      teamId: input.teamId,
      secretHash: hashSecret(secret),
      hint: secret.slice(0, 6),
      description: input.description ?? "",
      expiresAt: input.expiresInSeconds ? new Date(Date.now() + input.expiresInSeconds * 1000) : null,
      maxUses: input.maxUses === undefined ? 1 : input.maxUses,
      createdById: input.createdById ?? null,
    },
    select: joinTokenSelect,
  });
  return { token: formatJoinToken(input.fingerprint, secret), record };
}

export function joinTokenState(t: JoinTokenView, now = new Date()): "active" | "expired" | "revoked" | "exhausted" {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && t.expiresAt <= now) return "expired";
  if (t.maxUses !== null && t.uses >= t.maxUses) return "exhausted";
  return "active";
}

export async function listJoinTokens(
  db: Db,
  teamIds: string[],
): Promise<Array<JoinTokenView & { state: ReturnType<typeof joinTokenState> }>> {
  const rows = await db.joinToken.findMany({ where: { teamId: { in: teamIds } }, select: joinTokenSelect, orderBy: { createdAt: "desc" } });
  return rows.map((r) => ({ ...r, state: joinTokenState(r) }));
}

export async function getJoinToken(db: Db, id: string): Promise<JoinTokenView> {
  const t = await db.joinToken.findUnique({ where: { id }, select: joinTokenSelect });
  if (!t) throw notFound("join token");
  return t;
}

export async function revokeJoinToken(db: Db, id: string): Promise<JoinTokenView> {
  await getJoinToken(db, id);
  return db.joinToken.update({ where: { id }, data: { revokedAt: new Date() }, select: joinTokenSelect });
}

export interface RedeemInput {
  token: string;
  name: string;
  agentVersion: string;
  facts: HostFacts;
  remoteAddr: string | null;
  /** The control plane's own fingerprint; a token minted for another one is refused. */
  fingerprint: string | null;
}

/**
 * Exchanges a join token for a new host and its credential. The use counter is incremented with
 * a conditional UPDATE, so two agents racing for the last use cannot both win.
 */
export async function redeemJoinToken(db: Db, input: RedeemInput): Promise<{ hostId: string; name: string; credential: string }> {
  let secret: string;
  let pin: string | null;
  try {
    ({ secret, fingerprint: pin } = parseJoinToken(input.token));
  } catch (e) {
    throw new JoinTokenError("malformed", e instanceof JoinTokenFormatError ? e.message : "join token is malformed");
  }
  if (pin !== input.fingerprint) {
    throw new JoinTokenError("fingerprint", "join token was issued by a control plane with another TLS certificate");
  }
  const secretHash = hashSecret(secret);
  return db.$transaction(async (tx) => {
    const claimed = await tx.$executeRaw`
      update join_token set uses = uses + 1
      where "secretHash" = ${secretHash} and "revokedAt" is null
        and ("expiresAt" is null or "expiresAt" > now())
        and ("maxUses" is null or uses < "maxUses")`;
    const token = await tx.joinToken.findUnique({ where: { secretHash }, select: joinTokenSelect });
    if (claimed === 0 || !token) {
      if (!token) throw new JoinTokenError("unknown", "join token is not valid");
      const state = joinTokenState(token);
      if (state === "revoked") throw new JoinTokenError("revoked", "join token has been revoked");
      if (state === "expired") throw new JoinTokenError("expired", "join token has expired");
      throw new JoinTokenError("exhausted", "join token has been used its maximum number of times");
    }
    const name = await uniqueHostName(tx, token.teamId, input.name);
    const host = await tx.host.create({
      data: {
        teamId: token.teamId,
        name,
        agentVersion: input.agentVersion,
        facts: input.facts,
        remoteAddr: input.remoteAddr,
        joinTokenId: token.id,
      },
    });
    const credSecret = randomSecret(32);
    const cred = await tx.hostCredential.create({ data: { hostId: host.id, secretHash: hashSecret(credSecret) } });
    return { hostId: host.id, name, credential: `${cred.id}.${credSecret}` };
  });
}

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** `name`, or `name-2`, `name-3`… when the team already has a host by that name. */
async function uniqueHostName(tx: Tx, teamId: string, wanted: string): Promise<string> {
  const taken = new Set(
    (await tx.host.findMany({ where: { teamId, name: { startsWith: wanted } }, select: { name: true } })).map((h) => h.name),
  );
  if (!taken.has(wanted)) return wanted;
  for (let i = 2; ; i++) if (!taken.has(`${wanted}-${i}`)) return `${wanted}-${i}`;
}
