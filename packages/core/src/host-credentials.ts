import type { Db } from "@berth/db";
import { hashSecret, hashesEqual } from "./secrets.ts";

export type CredentialCheck =
  | { ok: true; hostId: string; credentialId: string }
  | { ok: false; reason: "malformed" | "unknown" | "revoked" };

/** Verifies `<credentialId>.<secret>` as presented by an agent. */
export async function verifyHostCredential(db: Db, presented: string): Promise<CredentialCheck> {
  const m = /^([a-z0-9]{1,40})\.([a-f0-9]{64})$/.exec(presented);
  if (!m) return { ok: false, reason: "malformed" };
  const [, id, secret] = m as unknown as [string, string, string];
  const cred = await db.hostCredential.findUnique({ where: { id } });
  if (!cred || !hashesEqual(cred.secretHash, hashSecret(secret))) return { ok: false, reason: "unknown" };
  if (cred.revokedAt) return { ok: false, reason: "revoked" };
  return { ok: true, hostId: cred.hostId, credentialId: cred.id };
}

/** Revokes every credential of a host. Returns how many were active. */
export async function revokeHostCredentials(db: Db, hostId: string): Promise<number> {
  const r = await db.hostCredential.updateMany({ where: { hostId, revokedAt: null }, data: { revokedAt: new Date() } });
  return r.count;
}
