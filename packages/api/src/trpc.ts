import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { isDomainError, recordAudit, forbidden, type DomainErrorCode } from "@berth/core";
import type { Role } from "@berth/db";
import type { Context, SessionUser } from "./context.ts";

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // Stack traces stay on the server unless developing locally.
  isDev: process.env.NODE_ENV === "development",
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? error.cause.issues.map((i) => ({ path: i.path.join("."), message: i.message })) : null;
    return { ...shape, data: { ...shape.data, zodIssues: zod } };
  },
});

const CODE_MAP: Record<DomainErrorCode, TRPCError["code"]> = {
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  INVALID: "BAD_REQUEST",
  UNAUTHENTICATED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  HOST_OFFLINE: "PRECONDITION_FAILED",
  TIMEOUT: "TIMEOUT",
  UNAVAILABLE: "INTERNAL_SERVER_ERROR",
  UPSTREAM: "BAD_GATEWAY",
};

/** The one place domain errors become tRPC errors. */
const mapErrors = t.middleware(async ({ next }) => {
  const res = await next();
  if (!res.ok && isDomainError(res.error.cause)) {
    const cause = res.error.cause;
    throw new TRPCError({ code: CODE_MAP[cause.code], message: cause.message, cause });
  }
  return res;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(mapErrors);

/** Every mutation leaves an audit row: who, what, target, result, source IP and channel. */
const audit = t.middleware(async ({ ctx, type, path, getRawInput, next }) => {
  const res = await next();
  if (type !== "mutation") return res;
  const raw = (await getRawInput().catch(() => undefined)) as Record<string, unknown> | undefined;
  const target = raw && typeof raw === "object" ? ((raw.id ?? raw.hostId ?? raw.tokenId ?? null) as string | null) : null;
  await recordAudit(ctx.db, {
    actorType: "user",
    actorId: ctx.user?.id ?? null,
    action: path,
    target: typeof target === "string" ? target : null,
    result: res.ok ? "ok" : "error",
    ...(res.ok ? {} : { detail: { error: res.error.message } }),
    sourceIp: ctx.sourceIp,
    channel: ctx.channel,
  }).catch(() => {
    // An audit failure must not turn a done mutation into an error; it is logged by the server.
  });
  return res;
});

/** Requires a signed-in user. */
export const authed = publicProcedure
  .use(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in first" });
    return next({ ctx: { ...ctx, user: ctx.user as SessionUser } });
  })
  .use(audit);

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

/** Throws FORBIDDEN unless the user holds at least `min` in `teamId`. */
export function requireTeamRole(ctx: Pick<Context, "memberships">, teamId: string, min: Role): void {
  const m = ctx.memberships.find((x) => x.teamId === teamId);
  if (!m || RANK[m.role] < RANK[min]) throw forbidden(`this needs the ${min} role in the host's team`);
}

/** Teams in which the user holds at least `min`. */
export function teamsWithRole(ctx: Pick<Context, "memberships">, min: Role): string[] {
  return ctx.memberships.filter((m) => RANK[m.role] >= RANK[min]).map((m) => m.teamId);
}

/** A procedure for users holding at least `min` in some team; per-resource checks use requireTeamRole. */
export const withRole = (min: Role) =>
  authed.use(({ ctx, next }) => {
    if (teamsWithRole(ctx, min).length === 0) throw new TRPCError({ code: "FORBIDDEN", message: `this needs the ${min} role` });
    return next();
  });
