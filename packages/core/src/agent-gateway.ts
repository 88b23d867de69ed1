import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket, type RawData } from "ws";
import type { z } from "zod";
import type { Db } from "@berth/db";
import {
  DEFAULT_MAX_FRAME_BYTES,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  parseAgentFrame,
  parseCommandProgress,
  parseCommandReply,
  parseStreamData,
  type AgentFrame,
  AgentRequestArgs,
  type AgentRequestAnswerInput,
  type AgentRequestName,
  type AgentRequestParsed,
  type CommandInput,
  type CommandName,
  type CommandProgress,
  type CommandReply,
  type HostFacts,
  type ServerFrame,
  type InventoryItem,
  type InventoryKind,
  type StatsReport,
  type StreamArgsOf,
  type StreamDataOf,
  type StreamKind,
} from "@berth/protocol";
import { DomainError, type DomainErrorCode } from "./errors.ts";
import { verifyHostCredential } from "./host-credentials.ts";
import type { Logger } from "./logger.ts";
import { guardedJob } from "./failure-log.ts";
import { rawText, refuseUpgrade } from "./ws-util.ts";

export interface AgentGatewayOptions {
  db: Db;
  logger: Logger;
  /** Frames over this many bytes close the connection. */
  maxFrameBytes?: number;
  /** A host with no heartbeat for this long is marked offline. */
  offlineAfterMs?: number;
  heartbeatMs?: number;
  /** How often the offline sweep runs. */
  sweepIntervalMs?: number;
  /** Heartbeats are kept in memory and written in one batch this often. */
  flushIntervalMs?: number;
  /** Time a connection gets to send its hello frame. */
  helloTimeoutMs?: number;
  /** Frames a host may send per second on average (bursts up to twice that); past it the link is closed. */
  maxFramesPerSecond?: number;
  /** This control-plane process, as hosts' `linkedReplicaId` names it (absent: a single process). */
  replicaId?: string;
  /** Where commands and streams go for hosts linked to other processes. */
  router?: HostRouter;
  /** Whether this process runs the offline sweep (one process does, under its lock); every process when absent. */
  sweepLeads?: () => boolean;
}

/** Answers one kind of agent request (see the protocol's AgentRequestArgs) for the host that asked. */
export type AgentRequestHandler<R extends AgentRequestName> = (
  hostId: string,
  args: AgentRequestParsed<R>,
) => Promise<AgentRequestAnswerInput<R>>;

export type HostStatusEvent = { hostId: string; status: "online" | "offline" };

/** WebSocket close codes the agent understands. */
export const CLOSE = {
  invalidFrame: 1008,
  tooBig: 1009,
  replaced: 4000,
  revoked: 4401,
  helloTimeout: 4408,
  shuttingDown: 1001,
} as const;

/** A command waiting for its reply. Replies and progress arrive unchecked; these check them. */
interface PendingCommand {
  reply(result: unknown): void;
  progress(data: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** An open stream as its session sees it: where the agent's frames for it go. */
export interface StreamEnd {
  deliver(data: unknown): void;
  finish(error?: DomainError): void;
}

/** A stream's control frames towards its agent (credit, input, close). */
export type StreamControlFrame = Extract<ServerFrame, { type: "stream.credit" | "stream.input" | "stream.close" }>;

/**
 * The way to a stream's agent: the agent's own link on this process, or another control-plane
 * process that holds it (see replicas/peer-link.ts).
 */
export interface StreamLink {
  hostId: string;
  send(frame: StreamControlFrame): void;
  /** The stream ended: its frames are no longer expected. */
  forget(id: string): void;
}

/**
 * Where commands and streams go for a host linked to another control-plane process (absent:
 * only this process's own agents are reachable).
 */
export interface HostRouter {
  command(
    hostId: string,
    command: CommandName,
    args: unknown,
    opts: { timeoutMs: number; onProgress?: (data: unknown) => void },
  ): Promise<unknown>;
  /** Opens a stream on the host's process; its frames reach `end`, its control frames go through the returned link. */
  openStream(hostId: string, id: string, kind: StreamKind, args: unknown, credit: number, end: StreamEnd): StreamLink;
}

interface Session {
  hostId: string;
  ws: WebSocket;
  link: StreamLink;
  ready: boolean;
  remoteAddr: string | null;
  pending: Map<string, PendingCommand>;
  streams: Map<string, StreamEnd>;
  /** Token bucket for the host's frame rate. */
  frameTokens: number;
  refilledAt: number;
  /** Closed for a bad frame: what is still in flight is ignored. */
  rejected?: boolean;
}

export interface CommandOptions<C extends CommandName> {
  /** How long the agent has to answer (default 30 s). */
  timeoutMs?: number;
  /** Each progress item the agent reports while the command runs, checked (see CommandProgressItems). */
  onProgress?: (progress: CommandProgress<C>) => void;
}

export interface AgentStreamHandlers<K extends StreamKind> {
  /** One data frame from the agent, checked against its kind's schema; it used one unit of credit. */
  data(data: StreamDataOf<K>): void;
  /** The stream ended: finished (no error), failed on the agent, sent invalid data, or the host went away. */
  end(error?: DomainError): void;
}

/**
 * The control plane's end of one stream channel. Whoever consumes the data grants credit back
 * (`grant`) as it passes frames on, so at most `credit` frames are ever in flight or buffered.
 */
export class AgentStream<K extends StreamKind = StreamKind> implements StreamEnd {
  private ended = false;
  constructor(
    readonly id: string,
    readonly kind: K,
    private readonly link: StreamLink,
    private readonly handlers: AgentStreamHandlers<K>,
    /** Frames the agent may still send; one past it is a protocol violation. */
    private credit: number,
    private readonly log: Logger,
  ) {}

  grant(n = 1): void {
    if (this.ended) return;
    this.credit += n;
    this.link.send({ type: "stream.credit", id: this.id, n });
  }

  input(input: { data?: string; resize?: { cols: number; rows: number }; eof?: true }): void {
    if (!this.ended) this.link.send({ type: "stream.input", id: this.id, ...input });
  }

  close(): void {
    if (this.ended) return;
    this.link.send({ type: "stream.close", id: this.id });
    this.finish();
  }

  /** @internal frames from the agent */
  deliver(data: unknown): void {
    if (this.ended) return;
    if (--this.credit < 0) {
      // An agent that ignores flow control would make the control plane buffer for it.
      this.link.send({ type: "stream.close", id: this.id });
      this.finish(new DomainError("UNAVAILABLE", "agent sent stream data beyond its credit"));
      return;
    }
    // Data that does not match its kind ends this stream only: the link and its other streams go on.
    const checked = parseStreamData(this.kind, data);
    if (!checked.ok) {
      this.log.warn({ hostId: this.link.hostId, kind: this.kind, reason: checked.reason }, "agent sent invalid stream data");
      this.link.send({ type: "stream.close", id: this.id });
      this.finish(new DomainError("UPSTREAM", `agent sent invalid ${this.kind} stream data: ${checked.reason}`));
      return;
    }
    this.handlers.data(checked.value);
  }

  /** @internal */
  finish(error?: DomainError): void {
    if (this.ended) return;
    this.ended = true;
    this.link.forget(this.id);
    this.handlers.end(error);
  }
}

/** What the hello's own statement read of a host that linked here: its listeners need no query of their own. */
export interface LinkedHost {
  teamId: string;
  /** The agent's event numbering and the last sequence kept of it (fleet-events.ts). */
  eventStream: string | null;
  eventSeq: number;
}

/**
 * The control plane's end of the agent link: one WebSocket per host, authenticated with the
 * host's credential on upgrade. It tracks liveness from heartbeats, relays commands and keeps
 * host status in Postgres. Bad frames close only the connection that sent them.
 */
export class AgentGateway extends EventEmitter<{
  status: [HostStatusEvent];
  connected: [string, LinkedHost];
  stats: [string, StatsReport];
  inventory: [string, { kind: InventoryKind; part: number; last: boolean; items: InventoryItem[] }];
}> {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, Session>();
  /** Hosts linked to other control-plane processes (refreshed every second when there is a router). */
  private remote = new Set<string>();
  private readonly lastSeen = new Map<string, number>();
  private readonly dirty = new Set<string>();
  /** Hosts whose link to this process is still to be cleared in Postgres (see unlink). */
  private readonly unlinkLater = new Set<string>();
  /** When each linked host's heartbeat was last queued for Postgres. */
  private readonly storedAt = new Map<string, number>();
  private readonly requestHandlers = new Map<string, (hostId: string, args: unknown) => Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private readonly opts: Required<Omit<AgentGatewayOptions, "db" | "logger" | "replicaId" | "router" | "sweepLeads">>;

  constructor(private readonly ctx: Pick<AgentGatewayOptions, "db" | "logger"> & AgentGatewayOptions) {
    super();
    this.opts = {
      maxFrameBytes: ctx.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      offlineAfterMs: ctx.offlineAfterMs ?? 5_000,
      heartbeatMs: ctx.heartbeatMs ?? HEARTBEAT_INTERVAL_MS,
      sweepIntervalMs: ctx.sweepIntervalMs ?? 1_000,
      // Other processes judge a host by the stored time: a beat reaches it within ~2 s of being sent.
      flushIntervalMs: ctx.flushIntervalMs ?? 1_000,
      helloTimeoutMs: ctx.helloTimeoutMs ?? 10_000,
      maxFramesPerSecond: ctx.maxFramesPerSecond ?? 2_000,
    };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxFrameBytes });
  }

  private get db() {
    return this.ctx.db;
  }
  private get log() {
    return this.ctx.logger;
  }

  start(): void {
    const guard = (what: string, fn: () => Promise<void>) => guardedJob(this.log, what, fn);
    this.timers.push(
      setInterval(
        guard("heartbeat flush", () => this.flushHeartbeats()),
        this.opts.flushIntervalMs,
      ),
    );
    // The sweep writes what it knows first: after a database outage the stored heartbeats are stale
    // for every host, and only a flush that went through can tell a dead host from a quiet database.
    this.timers.push(
      setInterval(
        guard("offline sweep", async () => {
          await this.flushHeartbeats(); // throws while the database is away: no sweep then
          await this.sweepOffline();
        }),
        this.opts.sweepIntervalMs,
      ),
    );
    if (this.ctx.router)
      this.timers.push(
        setInterval(
          guard("remote links refresh", () => this.refreshRemote()),
          1_000,
        ),
      );
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.sessions.values()) s.ws.close(CLOSE.shuttingDown, "control plane shutting down");
    await this.flushHeartbeats().catch(() => {});
    this.wss.close();
  }

  /** Who answers agents' requests of one kind (the overlay networks' address allocation). */
  handleRequests<R extends AgentRequestName>(method: R, handler: AgentRequestHandler<R>): void {
    this.requestHandlers.set(method, (hostId, args) => handler(hostId, args as AgentRequestParsed<R>));
  }

  /** Whether the host's agent is linked: to this process, or (seen within the last second) to another live one. */
  isConnected(hostId: string): boolean {
    return this.sessions.get(hostId)?.ready === true || this.remote.has(hostId);
  }

  /** Whether the host's agent is linked to this very process. */
  isLinkedHere(hostId: string): boolean {
    return this.sessions.get(hostId)?.ready === true;
  }

  /** Hosts linked to other processes whose beats are current: what `isConnected` answers for them. */
  private async refreshRemote(): Promise<void> {
    if (!this.ctx.replicaId) return;
    const rows = await this.db.$queryRaw<Array<{ id: string }>>`
      select id from host
      where "linkedReplicaId" is not null and "linkedReplicaId" <> ${this.ctx.replicaId}
        and status = 'online' and "lastSeenAt" > ${new Date(Date.now() - this.opts.offlineAfterMs)}`;
    this.remote = new Set(rows.map((r) => r.id));
  }

  connectedCount(): number {
    return this.sessions.size;
  }

  /** Handles an HTTP upgrade on the agent link path. Never throws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => {}); // a reset during the handshake must not crash the process
    const auth = req.headers.authorization ?? "";
    const presented = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
    const remoteAddr = req.socket.remoteAddress ?? null;
    verifyHostCredential(this.db, presented)
      .then((check) => {
        if (!check.ok) {
          this.log.warn({ remoteAddr, reason: check.reason }, "agent link refused");
          return refuseUpgrade(socket, 401, `host credential ${check.reason}`);
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, check.hostId, remoteAddr));
      })
      .catch((err) => {
        this.log.error({ err }, "agent link authentication failed");
        refuseUpgrade(socket, 503, "control plane unavailable");
      });
  }

  /**
   * Sends a command to a connected host and resolves with its reply, checked against the
   * command's reply schema: an agent that answers with anything else (a bug, a version that
   * drifted) fails this command with UPSTREAM, and its link stays up. Progress goes to onProgress.
   */
  command<C extends CommandName>(
    hostId: string,
    command: C,
    args: CommandInput<C>,
    opts: CommandOptions<C> = {},
  ): Promise<CommandReply<C>> {
    if (!this.sessions.get(hostId)?.ready && this.ctx.router) return this.routed(hostId, command, args, opts);
    return this.commandLocal(hostId, command, args, opts);
  }

  /** A command for a host linked to another process, sent there; its reply and progress checked here too. */
  private async routed<C extends CommandName>(
    hostId: string,
    command: C,
    args: CommandInput<C>,
    opts: CommandOptions<C>,
  ): Promise<CommandReply<C>> {
    const onProgress = opts.onProgress;
    const result = await this.ctx.router!.command(hostId, command, args, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      ...(onProgress
        ? {
            onProgress: (data: unknown) => {
              const checked = parseCommandProgress(command, data);
              if (checked.ok) onProgress(checked.value);
            },
          }
        : {}),
    });
    const checked = parseCommandReply(command, result);
    if (!checked.ok) throw new DomainError("UPSTREAM", `agent answered ${command} with an invalid reply: ${checked.reason}`);
    return checked.value;
  }

  /** A command for a host linked to this process (HOST_OFFLINE otherwise). */
  commandLocal<C extends CommandName>(
    hostId: string,
    command: C,
    args: CommandInput<C>,
    opts: CommandOptions<C> = {},
  ): Promise<CommandReply<C>> {
    const s = this.sessions.get(hostId);
    if (!s?.ready) return Promise.reject(new DomainError("HOST_OFFLINE", "host is not connected"));
    const id = randomUUID();
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const onProgress = opts.onProgress;
    return new Promise<CommandReply<C>>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.pending.delete(id);
        reject(new DomainError("TIMEOUT", `host did not answer ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      let progressRefused = false;
      s.pending.set(id, {
        timer,
        reject,
        reply: (result) => {
          const checked = parseCommandReply(command, result);
          if (checked.ok) return resolve(checked.value);
          this.log.warn({ hostId, command, reason: checked.reason }, "agent sent an invalid reply");
          reject(new DomainError("UPSTREAM", `agent answered ${command} with an invalid reply: ${checked.reason}`));
        },
        // Progress only informs: an invalid item is left out (and logged once), the command goes on.
        progress: (data) => {
          if (!onProgress) return;
          const checked = parseCommandProgress(command, data);
          if (checked.ok) return onProgress(checked.value);
          if (!progressRefused) this.log.warn({ hostId, command, reason: checked.reason }, "agent sent invalid progress; left out");
          progressRefused = true;
        },
      });
      send(s.ws, { type: "command", id, command, args });
    });
  }

  /**
   * Opens a stream channel to a connected host; the agent may send `credit` frames before more is
   * granted. Each data frame is checked against the kind's schema before `handlers.data` sees it.
   */
  openStream<K extends StreamKind>(
    hostId: string,
    kind: K,
    args: StreamArgsOf<K>,
    credit: number,
    handlers: AgentStreamHandlers<K>,
  ): AgentStream<K> {
    const router = this.ctx.router;
    if (this.sessions.get(hostId)?.ready || !router) return this.openStreamLocal(hostId, kind, args, credit, handlers);
    // Linked elsewhere: the stream is opened on that process; a failure to reach it ends the stream.
    const id = randomUUID();
    let stream: AgentStream<K> | null = null;
    const end: StreamEnd = { deliver: (d) => stream?.deliver(d), finish: (e) => stream?.finish(e) };
    const link = router.openStream(hostId, id, kind, args, credit, end);
    stream = new AgentStream(id, kind, link, handlers, credit, this.log);
    return stream;
  }

  /** A stream to a host linked to this process (HOST_OFFLINE otherwise). */
  openStreamLocal<K extends StreamKind>(
    hostId: string,
    kind: K,
    args: StreamArgsOf<K>,
    credit: number,
    handlers: AgentStreamHandlers<K>,
  ): AgentStream<K> {
    const s = this.sessions.get(hostId);
    if (!s?.ready) throw new DomainError("HOST_OFFLINE", "host is not connected");
    const stream = new AgentStream(randomUUID(), kind, s.link, handlers, credit, this.log);
    s.streams.set(stream.id, stream);
    send(s.ws, { type: "stream.open", id: stream.id, kind, args, credit });
    return stream;
  }

  /** Tells a host linked here that its events up to `seq` are kept (its outbox forgets them). */
  ackEvents(hostId: string, stream: string, seq: number): void {
    const s = this.sessions.get(hostId);
    if (s?.ready) send(s.ws, { type: "events.ack", stream, seq });
  }

  /** Closes a host's connection, e.g. after its credential was revoked. */
  disconnect(hostId: string, code: number = CLOSE.revoked, reason = "host credential revoked"): void {
    this.dirty.delete(hostId);
    this.lastSeen.delete(hostId);
    const s = this.sessions.get(hostId);
    if (!s) return;
    this.sessions.delete(hostId);
    s.ws.close(code, reason);
    // Don't wait for the agent's close frame: a revoked host must lose access now.
    setTimeout(() => s.ws.terminate(), 1_000).unref();
  }

  private accept(ws: WebSocket, hostId: string, remoteAddr: string | null): void {
    const previous = this.sessions.get(hostId);
    if (previous) previous.ws.close(CLOSE.replaced, "replaced by a newer connection");
    const streams = new Map<string, StreamEnd>();
    const session: Session = {
      hostId,
      ws,
      link: { hostId, send: (frame) => send(ws, frame), forget: (id) => streams.delete(id) },
      ready: false,
      remoteAddr,
      pending: new Map(),
      streams,
      frameTokens: this.opts.maxFramesPerSecond * 2,
      refilledAt: Date.now(),
    };
    this.sessions.set(hostId, session);
    const helloTimer = setTimeout(() => ws.close(CLOSE.helloTimeout, "no hello frame"), this.opts.helloTimeoutMs);

    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (session.rejected) return;
      if (!this.takeFrameToken(session)) return this.reject(session, `over ${this.opts.maxFramesPerSecond} frames a second`);
      if (isBinary) return this.reject(session, "binary frames are not part of the protocol");
      const parsed = parseAgentFrame(rawText(data));
      if (!parsed.ok) return this.reject(session, parsed.reason);
      if (!session.ready && parsed.frame.type !== "hello") return this.reject(session, "first frame must be hello");
      if (parsed.frame.type === "hello") clearTimeout(helloTimer);
      this.onFrame(session, parsed.frame).catch((err) => {
        this.log.error({ err, hostId }, "agent frame handling failed");
      });
    });
    ws.on("error", (err) => {
      // ws reports an oversized frame here, then closes with 1009.
      this.log.warn({ hostId, remoteAddr, err: err.message }, "agent link closed on error");
    });
    ws.on("close", (code, reason) => {
      clearTimeout(helloTimer);
      for (const p of session.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new DomainError("HOST_OFFLINE", "host disconnected"));
      }
      for (const st of [...session.streams.values()]) st.finish(new DomainError("HOST_OFFLINE", "host disconnected"));
      if (this.sessions.get(hostId) === session) {
        this.sessions.delete(hostId);
        this.storedAt.delete(hostId);
        // Forwarding to this process stops; a link the host made to another process meanwhile stays.
        this.unlink([hostId]).catch((err: unknown) => this.log.warn({ err, hostId }, "host's link not cleared yet"));
      }
      this.log.info({ hostId, code, reason: reason.toString() }, "agent disconnected");
    });
  }

  /**
   * Clears these hosts' link to this process, unless they have linked elsewhere meanwhile; on a
   * database error they are kept for the next sweep (a link left standing would keep the host from
   * ever being swept while this process lives).
   */
  private async unlink(hostIds: string[]): Promise<void> {
    if (!this.ctx.replicaId) return;
    try {
      await this.db.host.updateMany({
        where: { id: { in: hostIds }, linkedReplicaId: this.ctx.replicaId },
        data: { linkedReplicaId: null },
      });
      // A host that linked here again meanwhile (its hello's update may have gone first) is linked here.
      const back = hostIds.filter((id) => this.sessions.has(id));
      if (back.length) await this.db.host.updateMany({ where: { id: { in: back } }, data: { linkedReplicaId: this.ctx.replicaId } });
    } catch (err) {
      for (const id of hostIds) this.unlinkLater.add(id);
      throw err;
    }
  }

  /** A host that floods the link (a broken or hostile agent) is cut off before it costs the control plane. */
  private takeFrameToken(s: Session): boolean {
    const now = Date.now();
    const rate = this.opts.maxFramesPerSecond;
    s.frameTokens = Math.min(rate * 2, s.frameTokens + ((now - s.refilledAt) * rate) / 1000);
    s.refilledAt = now;
    if (s.frameTokens < 1) return false;
    s.frameTokens -= 1;
    return true;
  }

  private reject(session: Session, reason: string): void {
    session.rejected = true;
    this.log.warn({ hostId: session.hostId, remoteAddr: session.remoteAddr, reason }, "closing agent link: bad frame");
    // Close reasons are limited to 123 bytes.
    session.ws.close(CLOSE.invalidFrame, reason.slice(0, 120));
  }

  private async onFrame(session: Session, frame: AgentFrame): Promise<void> {
    switch (frame.type) {
      case "hello": {
        const now = new Date();
        // Whether the host was online already (stored before this statement): a host that only
        // re-linked (its control-plane process went, say) has no status change to tell anyone of.
        const [linked] = await this.db.$queryRaw<Array<{ revived: boolean; teamId: string; eventStream: string | null; eventSeq: bigint }>>`
          with prev as (select status from host where id = ${session.hostId})
          update host set status = 'online', "lastSeenAt" = ${now}, "agentVersion" = ${frame.agentVersion},
            facts = ${JSON.stringify(frame.facts)}::jsonb, "remoteAddr" = ${session.remoteAddr},
            "linkedReplicaId" = ${this.ctx.replicaId ?? null}
          where id = ${session.hostId}
          returning (select status from prev) <> 'online' as revived, "teamId", "eventStream", "eventSeq"`;
        if (!linked) return void session.ws.close(CLOSE.revoked, "host removed");
        this.lastSeen.set(session.hostId, now.getTime());
        this.storedAt.set(session.hostId, now.getTime());
        session.ready = true;
        send(session.ws, {
          type: "welcome",
          v: PROTOCOL_VERSION,
          hostId: session.hostId,
          heartbeatMs: this.opts.heartbeatMs,
          maxFrameBytes: this.opts.maxFrameBytes,
        });
        this.log.info({ hostId: session.hostId, remoteAddr: session.remoteAddr }, "agent connected");
        this.emit("connected", session.hostId, {
          teamId: linked.teamId,
          eventStream: linked.eventStream,
          eventSeq: Number(linked.eventSeq),
        });
        if (linked.revived) this.emit("status", { hostId: session.hostId, status: "online" });
        return;
      }
      case "heartbeat": {
        const at = Date.now();
        this.lastSeen.set(session.hostId, at);
        // Stored often enough for the other processes (their sweep, their view of what is linked):
        // a third of the offline threshold, not every beat, which at 5,000 hosts would be 5,000
        // row updates a second.
        if (at - (this.storedAt.get(session.hostId) ?? 0) >= this.opts.offlineAfterMs / 3) {
          this.storedAt.set(session.hostId, at);
          this.dirty.add(session.hostId);
        }
        return;
      }
      case "facts":
        await this.updateFacts(session.hostId, frame.facts);
        return;
      case "reply": {
        const p = session.pending.get(frame.id);
        if (!p) return; // late reply after a timeout
        session.pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.ok) p.reply(frame.result);
        else
          p.reject(
            new DomainError(AGENT_CODE_MAP[frame.error?.code ?? ""] ?? "UNAVAILABLE", frame.error?.message ?? "agent reported an error"),
          );
        return;
      }
      case "progress":
        session.pending.get(frame.id)?.progress(frame.data);
        return;
      case "stream.data":
        session.streams.get(frame.id)?.deliver(frame.data);
        return;
      case "stats":
        this.emit("stats", session.hostId, frame);
        return;
      case "inventory":
        this.emit("inventory", session.hostId, frame);
        return;
      case "request":
        await this.answer(session, frame.id, frame.method, frame.args);
        return;
      case "stream.end":
        session.streams
          .get(frame.id)
          ?.finish(frame.error ? new DomainError(AGENT_CODE_MAP[frame.error.code] ?? "UNAVAILABLE", frame.error.message) : undefined);
        return;
    }
  }

  /** Runs an agent's request through its handler, its arguments checked first; the error codes are the domain's. */
  private async answer(session: Session, id: string, method: string, args: unknown): Promise<void> {
    const reply = (frame: Omit<Extract<ServerFrame, { type: "answer" }>, "type" | "id">) =>
      send(session.ws, { type: "answer", id, ...frame });
    const handler = this.requestHandlers.get(method);
    const schema = (AgentRequestArgs as Record<string, z.ZodType>)[method];
    if (!handler || !schema) return reply({ ok: false, error: { code: "INVALID", message: `unknown request ${method.slice(0, 64)}` } });
    const parsed = schema.safeParse(args);
    if (!parsed.success)
      return reply({ ok: false, error: { code: "INVALID", message: `invalid ${method} request: ${parsed.error.message.slice(0, 2000)}` } });
    try {
      reply({ ok: true, result: await handler(session.hostId, parsed.data) });
    } catch (e) {
      if (e instanceof DomainError) return reply({ ok: false, error: { code: e.code, message: e.message.slice(0, 4000) } });
      this.log.error({ err: e, hostId: session.hostId, method }, "agent request failed");
      reply({ ok: false, error: { code: "FAILED", message: "the control plane could not answer" } });
    }
  }

  private async updateFacts(hostId: string, facts: HostFacts): Promise<void> {
    await this.db.host.update({ where: { id: hostId }, data: { facts } });
  }

  /**
   * Writes buffered heartbeats in one statement, and brings hosts that came back online. On a
   * database error they stay buffered for the next flush, and the error is thrown.
   */
  async flushHeartbeats(): Promise<void> {
    if (this.dirty.size === 0) return;
    // Only hosts still linked: a heartbeat buffered just before a disconnect must not revive it.
    const ids = [...this.dirty].filter((id) => this.sessions.has(id));
    this.dirty.clear();
    if (ids.length === 0) return;
    const times = ids.map((id) => new Date(this.lastSeen.get(id) ?? Date.now()).toISOString());
    let rows: Array<{ id: string; revived: boolean }>;
    try {
      rows = await this.writeHeartbeats(ids, times);
    } catch (err) {
      for (const id of ids) this.dirty.add(id);
      throw err;
    }
    for (const r of rows) if (r.revived) this.emit("status", { hostId: r.id, status: "online" });
  }

  private writeHeartbeats(ids: string[], times: string[]): Promise<Array<{ id: string; revived: boolean }>> {
    // The CTE reads the statuses from before the update, so revived rows are exact.
    return this.db.$queryRaw<Array<{ id: string; revived: boolean }>>`
      with v as (select unnest(${ids}::text[]) as id, unnest(${times}::timestamptz[]) as t),
           prev as (select h.id from host h join v on v.id = h.id where h.status <> 'online')
      update host set "lastSeenAt" = v.t, status = 'online'
      from v where host.id = v.id
        and exists (select 1 from host_credential c where c."hostId" = host.id and c."revokedAt" is null)
      returning host.id, host.id in (select id from prev) as revived`;
  }

  /** Marks hosts offline whose last heartbeat is older than the limit, and drops their sockets. */
  async sweepOffline(): Promise<void> {
    const cutoff = Date.now() - this.opts.offlineAfterMs;
    for (const [hostId, seen] of this.lastSeen) {
      if (seen < cutoff) {
        this.lastSeen.delete(hostId);
        this.sessions.get(hostId)?.ws.terminate();
      }
    }
    // Links whose close could not clear them (the database was away then), unless linked here again.
    const unlink = [...this.unlinkLater].filter((id) => !this.sessions.has(id));
    this.unlinkLater.clear();
    if (unlink.length) await this.unlink(unlink);
    // The stored statuses are one process's to change: the sweep's leader (each process writes its own hosts' beats).
    if (this.ctx.sweepLeads?.() === false) return;
    // A host this process holds a live, beating link to is online whatever the stored time says.
    const live = [...this.lastSeen].filter(([id, seen]) => seen >= cutoff && this.sessions.has(id)).map(([id]) => id);
    // A host linked to another registered process is that process's to judge: it drops a link
    // whose beats stopped (the loop above), and the host is swept once unlinked. A host whose
    // process died stays linked to it until the registry forgets that process (15 s without a
    // beat): the time its agent has to re-link elsewhere before it counts as offline and its
    // tasks are moved (Swarm gives nodes a grace period after a manager change, too).
    const gone = await this.db.$queryRaw<Array<{ id: string }>>`
      update host set status = 'offline'
      where status = 'online' and ("lastSeenAt" is null or "lastSeenAt" < ${new Date(cutoff)})
        and not (id = any(${live}::text[]))
        and not exists (
          select 1 from control_plane_replica r where r.id = host."linkedReplicaId" and r.id <> ${this.ctx.replicaId ?? ""})
      returning id`;
    for (const { id } of gone) {
      this.log.info({ hostId: id }, "host offline: no heartbeat");
      this.emit("status", { hostId: id, status: "offline" });
    }
  }
}

/** Agent reply codes → domain errors (see AGENT_ERROR_CODES in @berth/protocol). */
const AGENT_CODE_MAP: Record<string, DomainErrorCode> = {
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  // "already started" and the like: the caller asked for a state the container is already in.
  NOT_MODIFIED: "CONFLICT",
  INVALID: "INVALID",
  FORBIDDEN: "FORBIDDEN",
  REGISTRY: "UPSTREAM",
  NOT_IMPLEMENTED: "INVALID",
  UNKNOWN_COMMAND: "INVALID",
};

function send(ws: WebSocket, frame: ServerFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
}
