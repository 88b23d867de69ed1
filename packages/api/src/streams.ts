import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { z } from "zod";
import {
  DomainError,
  isDomainError,
  recordAudit,
  type AgentStream,
  type BuildRunner,
  type ControlPlaneMetrics,
  type DomainErrorCode,
  type FleetEvent,
  type FleetEvents,
  type Logger,
} from "@berth/core";
import { StreamArgs } from "@berth/protocol";
import { actorOf, type Context } from "./context.ts";
import { HostId, hostFor } from "./routers/host-access.ts";
import { teamsWithRole } from "./trpc.ts";
import { ClientMessage, safeJson } from "./stream-messages.ts";
import { SERVICE_LOGS_PATH, ServiceLogsQuery, relayServiceLogs, serviceForLogs } from "./service-logs.ts";
import { BUILD_LOGS_PATH, BuildLogsQuery, buildForLogs, relayBuildLogs } from "./build-logs.ts";

/*
 * Live streams for browsers and scripts: one WebSocket per stream at /api/streams/<kind>, with
 * the stream's arguments in the query string (logs, stats, exec, events). It is the agent
 * stream (AgentGateway.openStream) passed through with end-to-end flow control: the client
 * acknowledges each data message ({"t":"ack","n":1}) and every acknowledgement is granted to the
 * agent as credit, so at most `window` messages are ever in flight, whatever the client's speed.
 *
 * Server → client: {"t":"data","d":…} and a last {"t":"end","error"?:{code,message}}.
 * Client → server: {"t":"ack","n":k}; for exec also {"t":"input","data":"…"},
 * {"t":"resize","cols":c,"rows":r} and {"t":"eof"}.
 */

export const STREAM_PATH_PREFIX = "/api/streams/";

const Window = z.coerce.number().int().min(1).max(64);
const Bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const Num = z.coerce.number();

/** The agent streams a browser may open (attach and wait serve the fleet Docker endpoint only). */
const BROWSER_KINDS = ["logs", "stats", "exec", "events"] as const;
type BrowserKind = (typeof BROWSER_KINDS)[number];

/** Query strings carry text: each kind's arguments with their numbers and booleans read back. */
const QUERY: Record<BrowserKind, z.ZodType<Record<string, unknown>>> = {
  logs: z.object({
    id: z.string(),
    tail: Num.optional(),
    since: Num.optional(),
    after: z.string().optional(),
    stdout: Bool.optional(),
    stderr: Bool.optional(),
    follow: Bool.optional(),
  }),
  stats: z.object({ id: z.string() }),
  exec: z.object({
    id: z.string(),
    cmd: z.string().max(4096).optional(),
    tty: Bool.optional(),
    cols: Num.optional(),
    rows: Num.optional(),
  }),
  events: z.object({}),
};

const HTTP_STATUS: Record<DomainErrorCode, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  HOST_OFFLINE: 412,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  UPSTREAM: 502,
};

export interface StreamServerOptions {
  /** Builds the caller's context from the upgrade request (session cookie or bearer token). */
  contextFor(req: IncomingMessage): Promise<Context>;
  /** Origins allowed to open a stream with a session cookie (the dashboard's own). */
  allowedOrigins: string[];
  logger: Logger;
  /** Ping interval, so proxies keep idle streams open and dead peers are noticed. */
  pingMs?: number;
  metrics?: Pick<ControlPlaneMetrics, "streamsOpen" | "streamMessages">;
  /** Every host's events, for the fleet-wide feed (an events stream without a hostId). */
  fleetEvents?: FleetEvents;
  /** How often an open stream checks its caller again (a revoked token or session, a role taken away). */
  recheckMs?: number;
  /** Builds this process runs: their live logs are told at once, others' are polled. */
  builds?: BuildRunner;
}

/**
 * Events a fleet feed holds for a client that is behind; older ones are dropped and counted. All
 * clients together hold at most FLEET_FEED_TOTAL: with many clients each gets its share.
 */
export const FLEET_FEED_BACKLOG = 10_000;
export const FLEET_FEED_TOTAL = 100_000;

/** A stream kind with its checked arguments: narrowing `kind` narrows `args`. */
type KindArgs = { [K in BrowserKind]: { kind: K; args: z.output<(typeof StreamArgs)[K]> } }[BrowserKind];

type OpenRequest = KindArgs & {
  /** null: the whole fleet (events only). */
  hostId: string | null;
  window: number;
};

/** Checks a kind's arguments; each case ties its kind to its own arguments' type. */
function kindArgs(k: BrowserKind, raw: unknown): KindArgs | z.ZodError {
  switch (k) {
    case "logs": {
      const r = StreamArgs.logs.safeParse(raw);
      return r.success ? { kind: k, args: r.data } : r.error;
    }
    case "stats": {
      const r = StreamArgs.stats.safeParse(raw);
      return r.success ? { kind: k, args: r.data } : r.error;
    }
    case "exec": {
      const r = StreamArgs.exec.safeParse(raw);
      return r.success ? { kind: k, args: r.data } : r.error;
    }
    case "events": {
      const r = StreamArgs.events.safeParse(raw);
      return r.success ? { kind: k, args: r.data } : r.error;
    }
  }
}

function parseRequest(req: IncomingMessage): OpenRequest {
  const url = new URL(req.url ?? "/", "http://x");
  const kind = url.pathname.slice(STREAM_PATH_PREFIX.length);
  const k = BROWSER_KINDS.find((known) => known === kind);
  if (!k) throw new DomainError("NOT_FOUND", `no stream '${kind.slice(0, 32)}': one of ${BROWSER_KINDS.join(", ")}`);
  const q = Object.fromEntries(url.searchParams);
  const { hostId, window, ...rest } = q;
  const host = HostId.safeParse(hostId);
  if (!host.success && !(k === "events" && hostId === undefined))
    throw new DomainError("INVALID", k === "events" ? "hostId is a host's id, or absent for the whole fleet" : "hostId is required");
  const w = Window.safeParse(window ?? "8");
  if (!w.success) throw new DomainError("INVALID", "window is a number of messages from 1 to 64");
  const text = QUERY[k].safeParse(rest);
  const typed = text.success ? kindArgs(k, k === "exec" ? execArgs(text.data, url.searchParams.getAll("arg")) : text.data) : text.error;
  if (typed instanceof z.ZodError) {
    const issue = typed.issues[0];
    throw new DomainError("INVALID", `invalid ${k} stream: ${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`);
  }
  return { ...typed, hostId: host.success ? host.data : null, window: w.data };
}

/**
 * A command as repeated `arg` parameters (`arg=ls&arg=-l`), or `cmd`: the shell to run, e.g.
 * /bin/bash, which the agent replaces with /bin/sh when the image lacks it.
 */
function execArgs(q: Record<string, unknown>, argv: string[]): Record<string, unknown> {
  const { cmd, ...rest } = q;
  return { ...rest, cmd: argv.length ? argv : [typeof cmd === "string" && cmd ? cmd : "/bin/sh"] };
}

export function createStreamServer(opts: StreamServerOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 128 * 1024 });
  const pingMs = opts.pingMs ?? 30_000;
  const recheckMs = opts.recheckMs ?? 5_000;
  /** Fleet feeds open now: the global backlog is shared among them. */
  let fleetClients = 0;
  const log = opts.logger;

  /**
   * A stream lasts as long as its caller's right to it: the credentials and role are checked again
   * every `recheckMs`, and the stream ends (with the reason) once they no longer hold. A check
   * that fails for another reason (the database is away) leaves the stream open.
   */
  function keepAuthorized(ws: WebSocket, req: IncomingMessage, check: (req: IncomingMessage) => Promise<unknown> = authorize): void {
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      check(req)
        .catch((e: unknown) => {
          if (!isDomainError(e) || (e.code !== "UNAUTHENTICATED" && e.code !== "FORBIDDEN" && e.code !== "NOT_FOUND")) return;
          if (ws.readyState === ws.OPEN)
            ws.send(JSON.stringify({ t: "end", error: { code: e.code, message: `access ended: ${e.message}` } }));
          ws.close(1008, "access ended");
        })
        .finally(() => (checking = false));
    }, recheckMs);
    timer.unref();
    ws.on("close", () => clearInterval(timer));
  }

  /** The caller, signed in or with a token; a cookie only from the dashboard's own origin. */
  async function caller(req: IncomingMessage): Promise<Context> {
    const ctx = await opts.contextFor(req);
    if (!ctx.user && !ctx.token) throw new DomainError("UNAUTHENTICATED", ctx.authError ?? "sign in or send an API token");
    // A browser sends its cookie to any site's WebSocket: only the dashboard's own pages may use it.
    if (ctx.user && !ctx.token && !opts.allowedOrigins.includes(req.headers.origin ?? ""))
      throw new DomainError("FORBIDDEN", "streams with a session cookie are open to the dashboard's own origin only");
    return ctx;
  }

  /**
   * A stream the control plane serves itself rather than relays from one agent: its query, the
   * check that the caller may read it (any role in its team), and what relays it.
   */
  function ownStream<S extends z.ZodType>(
    name: string,
    query: S,
    check: (ctx: Context, q: z.output<S>) => Promise<void>,
    relay: (ws: WebSocket, ctx: Context, q: z.output<S>) => void,
  ) {
    const authorizeIt = async (req: IncomingMessage): Promise<{ ctx: Context; q: z.output<S> }> => {
      const parsed = query.safeParse(Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new DomainError("INVALID", `invalid ${name} stream: ${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`);
      }
      const ctx = await caller(req);
      await check(ctx, parsed.data);
      return { ctx, q: parsed.data };
    };
    return (req: IncomingMessage, socket: Duplex, head: Buffer, refuseUpgrade: (e: unknown) => void): void => {
      authorizeIt(req)
        .then(({ ctx, q }) =>
          wss.handleUpgrade(req, socket, head, (ws) => {
            keepAuthorized(ws, req, authorizeIt);
            const ping = setInterval(() => ws.ping(), pingMs);
            ws.on("close", () => clearInterval(ping));
            relay(ws, ctx, q);
          }),
        )
        .catch(refuseUpgrade);
    };
  }

  const ownStreams = new Map([
    [
      SERVICE_LOGS_PATH,
      ownStream(
        "service-logs",
        ServiceLogsQuery,
        (ctx, q) => serviceForLogs(ctx, q),
        (ws, ctx, q) => relayServiceLogs(ws, ctx, q, log),
      ),
    ],
    [
      BUILD_LOGS_PATH,
      ownStream(
        "build-logs",
        BuildLogsQuery,
        (ctx, q) => buildForLogs(ctx, q.build),
        (ws, ctx, q) => relayBuildLogs(ws, ctx, q, opts.builds, log),
      ),
    ],
  ]);

  async function authorize(req: IncomingMessage): Promise<{ ctx: Context; open: OpenRequest }> {
    const open = parseRequest(req);
    const ctx = await caller(req);
    // Viewers watch; a terminal changes things, so it needs an operator.
    if (open.hostId === null) {
      if (teamsWithRole(ctx, "viewer").length === 0) throw new DomainError("FORBIDDEN", "the fleet feed needs a role in a team");
    } else await hostFor(ctx, open.hostId, open.kind === "exec" ? "operator" : "viewer");
    return { ctx, open };
  }

  /**
   * The fleet's events as they happen, for the hosts of the caller's teams: each message a batch,
   * at most `window` unacknowledged; a client that falls far behind loses the oldest, and the
   * next message says how many (`dropped`).
   */
  function relayFleet(ws: WebSocket, ctx: Context, open: OpenRequest): void {
    const source = opts.fleetEvents;
    if (!source) return void ws.close(1011, "no fleet feed here");
    fleetClients++;
    const backlog = () => Math.max(100, Math.min(FLEET_FEED_BACKLOG, Math.floor(FLEET_FEED_TOTAL / fleetClients)));
    const teams = new Set(teamsWithRole(ctx, "viewer"));
    const hosts = new Map<string, { name: string; mine: boolean } | Promise<unknown>>();
    let queue: Array<FleetEvent & { hostId: string; hostName: string }> = [];
    let dropped = 0;
    let inFlight = 0;
    const pump = () => {
      while (inFlight < open.window && queue.length > 0 && ws.readyState === ws.OPEN) {
        const batch = queue.splice(0, 500);
        inFlight++;
        opts.metrics?.streamMessages.inc({ kind: "events" });
        ws.send(JSON.stringify({ t: "data", d: { events: batch, ...(dropped ? { dropped } : {}) } }));
        dropped = 0;
      }
    };
    const push = (hostId: string, name: string, e: FleetEvent) => {
      queue.push({ ...e, hostId, hostName: name });
      const keep = backlog();
      if (queue.length > keep) {
        dropped += queue.length - keep;
        queue = queue.slice(-keep);
      }
      pump();
    };
    const onEvent = (hostId: string, e: FleetEvent) => {
      const known = hosts.get(hostId);
      if (known && !(known instanceof Promise)) return void (known.mine && push(hostId, known.name, e));
      // A host not seen yet: its team decides, looked up once.
      const lookup = (
        known instanceof Promise
          ? known
          : ctx.db.host.findUnique({ where: { id: hostId }, select: { name: true, teamId: true } }).then((h) => {
              hosts.set(hostId, { name: h?.name ?? "", mine: Boolean(h && teams.has(h.teamId)) });
            })
      ).then(() => {
        const h = hosts.get(hostId) as { name: string; mine: boolean };
        if (h.mine) push(hostId, h.name, e);
      });
      if (!known) hosts.set(hostId, lookup);
    };
    // The feed opens with the last events kept for the caller's hosts, then goes on live; live
    // events that came while those were read, and are among them, are not sent twice.
    let early: Array<[string, FleetEvent]> | null = [];
    const live = (hostId: string, e: FleetEvent) => (early ? early.push([hostId, e]) : onEvent(hostId, e));
    source.on("event", live);
    void ctx.db.host
      .findMany({ where: { teamId: { in: [...teams] } }, select: { id: true, name: true } })
      .then(async (mine) => {
        for (const h of mine) hosts.set(h.id, { name: h.name, mine: true });
        const recent = await source.recent(mine.map((h) => h.id));
        const seen = new Set(recent.map((r) => `${r.hostId}:${r.event.seq}`));
        for (const r of recent) onEvent(r.hostId, r.event);
        for (const [hostId, e] of early ?? []) if (!seen.has(`${hostId}:${e.seq}`)) onEvent(hostId, e);
        early = null;
      })
      .catch((err: unknown) => {
        // Without its history the feed still goes on live, what waited included.
        log.warn({ err }, "the events feed opened without its history");
        const waiting = early ?? [];
        early = null;
        for (const [hostId, e] of waiting) onEvent(hostId, e);
      });
    opts.metrics?.streamsOpen.inc({ kind: "events" });
    const ping = setInterval(() => ws.ping(), pingMs);
    ws.on("message", (raw: RawData, isBinary: boolean) => {
      const msg = isBinary ? null : ClientMessage.safeParse(safeJson(raw.toString()));
      if (!msg?.success || msg.data.t !== "ack") return void ws.close(1008, "invalid message");
      inFlight = Math.max(0, inFlight - msg.data.n);
      pump();
    });
    ws.on("close", () => {
      clearInterval(ping);
      fleetClients--;
      opts.metrics?.streamsOpen.dec({ kind: "events" });
      source.off("event", live);
    });
    ws.on("error", () => undefined);
  }

  function relay(ws: WebSocket, ctx: Context, open: OpenRequest & { hostId: string }): void {
    let inFlight = 0;
    let stream: AgentStream;
    const end = (error?: DomainError) => {
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ t: "end", ...(error ? { error: { code: error.code, message: error.message } } : {}) }));
        ws.close(1000);
      }
    };
    try {
      stream = ctx.gateway.openStream(open.hostId, open.kind, open.args, open.window, {
        data(d) {
          inFlight++;
          opts.metrics?.streamMessages.inc({ kind: open.kind });
          ws.send(JSON.stringify({ t: "data", d }));
        },
        end,
      });
    } catch (e) {
      end(isDomainError(e) ? e : new DomainError("UNAVAILABLE", "could not open the stream"));
      return;
    }
    const ping = setInterval(() => ws.ping(), pingMs);
    opts.metrics?.streamsOpen.inc({ kind: open.kind });
    ws.on("message", (raw: RawData, isBinary: boolean) => {
      const msg = isBinary ? null : ClientMessage.safeParse(safeJson(raw.toString()));
      if (!msg?.success) return void ws.close(1008, "invalid message");
      const m = msg.data;
      if (m.t === "ack") {
        // Credit only for what the client has received: acks cannot widen the window.
        const n = Math.min(m.n, inFlight);
        inFlight -= n;
        if (n > 0) stream.grant(n);
      } else if (open.kind !== "exec") ws.close(1008, "this stream takes no input");
      else if (m.t === "input") stream.input({ data: m.data });
      else if (m.t === "eof") stream.input({ eof: true });
      else stream.input({ resize: { cols: m.cols, rows: m.rows } });
    });
    ws.on("close", () => {
      clearInterval(ping);
      opts.metrics?.streamsOpen.dec({ kind: open.kind });
      stream.close();
    });
    ws.on("error", () => undefined);
  }

  return {
    /** Handles an upgrade under /api/streams/. Never throws; refusals are plain HTTP answers. */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      socket.on("error", () => undefined);
      const refuseUpgrade = (e: unknown) => {
        const err = isDomainError(e) ? e : new DomainError("UNAVAILABLE", "stream unavailable");
        if (!isDomainError(e)) log.error({ err: e }, "stream upgrade failed");
        refuse(socket, HTTP_STATUS[err.code], err.message);
      };
      const own = ownStreams.get(new URL(req.url ?? "/", "http://x").pathname);
      if (own) {
        own(req, socket, head, refuseUpgrade);
        return;
      }
      authorize(req)
        .then(({ ctx, open }) => {
          if (open.kind === "exec") {
            void recordAudit(ctx.db, {
              ...actorOf(ctx),
              action: "containers.exec",
              target: `${open.hostId}/${open.args.id}`,
              result: "ok",
              detail: { cmd: open.args.cmd },
              sourceIp: ctx.sourceIp,
              channel: ctx.channel,
            }).catch((err: unknown) => log.error({ err }, "audit write failed"));
          }
          const hostId = open.hostId;
          wss.handleUpgrade(req, socket, head, (ws) => {
            keepAuthorized(ws, req);
            if (hostId === null) relayFleet(ws, ctx, open);
            else relay(ws, ctx, { ...open, hostId });
          });
        })
        .catch(refuseUpgrade);
    },
    close(): void {
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${status < 500 ? "Refused" : "Unavailable"}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
