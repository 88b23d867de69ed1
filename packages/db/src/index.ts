import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export { PrismaClient } from "./generated/client.ts";
export type { Prisma, Host, JoinToken, HostCredential, Team, Membership, User, AuditLog } from "./generated/client.ts";
export { Role, HostStatus } from "./generated/enums.ts";

export type Db = InstanceType<typeof PrismaClient>;

/**
 * One client per process; the pool size bounds this process's share of Postgres connections.
 * `keepIdle` keeps idle connections open (a long-running process): opening one costs a SCRAM
 * handshake, several ms of CPU on both sides, which a burst after a quiet spell would otherwise pay
 * per query it runs at once (pg's pool closes a connection idle for 10 s by default).
 */
export function createDb(connectionString: string, opts: { poolSize?: number; keepIdle?: boolean } = {}): Db {
  const adapter = new PrismaPg({ connectionString, max: opts.poolSize ?? 10, ...(opts.keepIdle ? { idleTimeoutMillis: 0 } : {}) });
  return new PrismaClient({ adapter });
}
