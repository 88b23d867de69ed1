/**
 * Domain errors. Services throw these; the edges (tRPC middleware, HTTP routes, the agent
 * gateway) map them to their own error shapes. Nothing below the edge knows about HTTP.
 */
export const DOMAIN_ERROR_CODES = [
  "NOT_FOUND",
  "CONFLICT",
  "INVALID",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "HOST_OFFLINE",
  "TIMEOUT",
  "UNAVAILABLE",
  /** A system beyond the agent (a registry) refused or failed. */
  "UPSTREAM",
] as const;
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export const notFound = (what: string) => new DomainError("NOT_FOUND", `${what} not found`);
export const conflict = (msg: string) => new DomainError("CONFLICT", msg);
export const invalid = (msg: string) => new DomainError("INVALID", msg);
export const forbidden = (msg = "you are not allowed to do that") => new DomainError("FORBIDDEN", msg);

/** Why a join token was refused. The message is safe to show to the joining agent. */
export type JoinTokenRefusal = "malformed" | "unknown" | "expired" | "revoked" | "exhausted" | "fingerprint";

export class JoinTokenError extends DomainError {
  constructor(
    readonly reason: JoinTokenRefusal,
    message: string,
  ) {
    super("UNAUTHENTICATED", message);
    this.name = "JoinTokenError";
  }
}

/** A leader job's write refused because its leadership passed to another process (see leader.ts). */
export class FencedError extends DomainError {
  constructor(job: string) {
    super("UNAVAILABLE", `this process no longer leads ${job}: another one does`);
    this.name = "FencedError";
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

/** A unique constraint refused a write: P2002 from Prisma's model calls, SQLSTATE 23505 inside P2010 from raw SQL. */
export const isUniqueViolation = (e: unknown): boolean => (e as { code?: string }).code === "P2002" || rawSqlState(e) === "23505";

/** The SQLSTATE of a raw statement's failure (P2010), as Postgres gave it. */
export const rawSqlState = (e: unknown): string | undefined => {
  const err = e as { code?: string; meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } };
  return err.code === "P2010" ? err.meta?.driverAdapterError?.cause?.originalCode : undefined;
};
