import type { Db, Role } from "@berth/db";
import type {
  AgentGateway,
  BuildRunner,
  AuditChannel,
  ClientCertificates,
  Logger,
  SecretBox,
  OverlayStore,
  StackStore,
  ServiceFileStore,
  ServiceStore,
  StatsIngest,
  TokenPrincipal,
} from "@berth/core";

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
  /** The signed-in user (a browser session), or null. */
  user: SessionUser | null;
  /** The API token the request carried, or null. A request acts as a user or a token, never both. */
  token: TokenPrincipal | null;
  /** Why the credentials presented were refused (a revoked token...), shown instead of "sign in first". */
  authError?: string;
  /** The caller's team roles: a user's memberships, or the one team and role of a token. */
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
  /** Stats history and the newest point of each series. */
  stats: StatsIngest;
  /** Services and their versioned specs (the reconciler acts on what is written here). */
  services: ServiceStore;
  /** Users' client certificates for the fleet Docker endpoint. */
  clientCerts: ClientCertificates;
  /** Secrets and configs that services give their tasks as files. */
  serviceFiles: ServiceFileStore;
  /** Overlay networks and their endpoints (the overlay sync pushes what changes to the hosts). */
  overlays: OverlayStore;
  /** Compose applications and their deploys. */
  stacks: StackStore;
  /** Image builds this process runs (absent where none run, e.g. in some tests). */
  builds?: BuildRunner;
  /** For what goes wrong beside the answer (an audit row that could not be written). */
  logger: Logger;
  /** Where the fleet's Docker API listens, and the certificate a client verifies it with (null: plain). */
  dockerEndpoint?: { dockerHost: string; caPem: string | null } | null;
}

export async function loadMemberships(db: Db, userId: string): Promise<Membership[]> {
  return db.membership.findMany({ where: { userId }, select: { teamId: true, role: true } });
}

/** A token acts with its one role in its one team; a token without a team holds no role anywhere. */
export function tokenMemberships(token: TokenPrincipal): Membership[] {
  return token.teamId ? [{ teamId: token.teamId, role: token.role }] : [];
}

/** Who did it, for audit rows. */
export function actorOf(ctx: Pick<Context, "user" | "token">): { actorType: "user" | "token"; actorId: string | null } {
  if (ctx.token) return { actorType: "token", actorId: ctx.token.id };
  return { actorType: "user", actorId: ctx.user?.id ?? null };
}
