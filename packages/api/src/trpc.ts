import { initTRPC, TRPCError } from "@trpc/server";
import type { OpenApiMeta } from "trpc-to-openapi";
import superjson from "superjson";
import { ZodError } from "zod";
import { isDomainError, recordAudit, forbidden, type DomainErrorCode } from "@berth/core";
import type { Role } from "@berth/db";
import { actorOf, type Context } from "./context.ts";

const t = initTRPC
  .context<Context>()
  .meta<OpenApiMeta>()
  .create({
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

function toTRPCError(e: unknown): unknown {
  if (isDomainError(e)) return new TRPCError({ code: CODE_MAP[e.code], message: e.message, cause: e });
  if (e instanceof TRPCError && isDomainError(e.cause)) return toTRPCError(e.cause);
  return e;
}

/** A subscription's errors are thrown while it is iterated, after the middleware returned: map them there. */
async function* mappedIterable<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (e) {
    throw toTRPCError(e);
  }
}

/** The one place domain errors become tRPC errors. */
const mapErrors = t.middleware(async ({ type, next }) => {
  const res = await next();
  if (!res.ok) {
    const mapped = toTRPCError(res.error.cause);
    if (mapped !== res.error.cause) throw mapped;
    return res;
  }
  if (type === "subscription" && res.data && typeof (res.data as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    return { ...res, data: mappedIterable(res.data as AsyncIterable<unknown>) };
  }
  return res;
});

export const router = t.router;

/**
 * Where a procedure also answers over REST, under /api/v1 (see rest.ts). Every REST route needs
 * a bearer API token or a session, like the tRPC one; the tag groups routes in the docs page.
 */
export function rest(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: `/${string}`): OpenApiMeta {
  // /hosts/{hostId}/containers/... is about containers; /hosts/{id}/rename about hosts.
  const parts = path.split("/");
  const tag = path.startsWith("/hosts/{hostId}/") ? parts[3]! : parts[1]!;
  return { openapi: { method, path, protect: true, tags: [tag] } };
}
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(mapErrors);

/** Every mutation leaves an audit row: who, what, target, result, source IP and channel. */
const audit = t.middleware(async ({ ctx, type, path, getRawInput, next }) => {
  const res = await next();
  if (type !== "mutation") return res;
  const raw = (await getRawInput().catch(() => undefined)) as Record<string, unknown> | undefined;
  const target = raw && typeof raw === "object" ? ((raw.id ?? raw.hostId ?? raw.tokenId ?? null) as string | null) : null;
  await recordAudit(ctx.db, {
    ...actorOf(ctx),
    action: path,
    target: typeof target === "string" ? target : null,
    result: res.ok ? "ok" : "error",
    ...(res.ok ? {} : { detail: { error: res.error.message } }),
    sourceIp: ctx.sourceIp,
    channel: ctx.channel,
  }).catch((err: unknown) => {
    // An audit failure must not turn a done mutation into an error; it is logged instead.
    ctx.logger.error({ err, action: path }, "audit row not written");
  });
  return res;
});

/** Requires a signed-in user or a valid API token. */
export const authed = publicProcedure
  .use(({ ctx, next }) => {
    if (!ctx.user && !ctx.token) throw new TRPCError({ code: "UNAUTHORIZED", message: ctx.authError ?? "sign in first" });
    return next();
  })
  .use(audit);

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

/** Throws FORBIDDEN unless the user holds at least `min` in `teamId`. */
export function requireTeamRole(ctx: Pick<Context, "memberships">, teamId: string, min: Role): void {
  if (!hasRole(ctx, teamId, min)) throw forbidden(`this needs the ${min} role in the team`);
}

/** Whether the caller holds at least `min` in `teamId`. */
export function hasRole(ctx: Pick<Context, "memberships">, teamId: string, min: Role): boolean {
  const m = ctx.memberships.find((x) => x.teamId === teamId);
  return Boolean(m && RANK[m.role] >= RANK[min]);
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
