import type { Db, Role } from "@berth/db";
import type { AgentGateway, AuditChannel, SecretBox } from "@berth/core";

export interface SessionUser {
  id: string;
  email: string;
  name: string;
}

export interface Membership {
  teamId: string;
  role: Role;
}

/** Everything a procedure may use. Built per request by the HTTP adapter in apps/web. */
export interface Context {
  db: Db;
  gateway: AgentGateway;
  user: SessionUser | null;
  memberships: Membership[];
  sourceIp: string | null;
  channel: AuditChannel;
  /** The control plane's externally reachable URL and TLS fingerprint (null: plain HTTP). */
  publicUrl: string;
  fingerprint: string | null;
  /** base64 sha256 of the TLS public key, for `curl --pinnedpubkey` in install commands. */
  spkiPin: string | null;
  /** Seals and opens stored credentials (registry passwords). */
  secretBox: SecretBox;
}

export async function loadMemberships(db: Db, userId: string): Promise<Membership[]> {
  return db.membership.findMany({ where: { userId }, select: { teamId: true, role: true } });
}
