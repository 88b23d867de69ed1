import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export { PrismaClient } from "./generated/client.ts";
export type { Prisma, Host, JoinToken, HostCredential, Team, Membership, User, AuditLog } from "./generated/client.ts";
export { Role, HostStatus } from "./generated/enums.ts";

export type Db = InstanceType<typeof PrismaClient>;

/** One client per process; the pool size bounds this process's share of Postgres connections. */
export function createDb(connectionString: string, opts: { poolSize?: number } = {}): Db {
  const adapter = new PrismaPg({ connectionString, max: opts.poolSize ?? 10 });
  return new PrismaClient({ adapter });
}
