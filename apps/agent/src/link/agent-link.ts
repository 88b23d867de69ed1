import { WebSocket } from "ws";
import { randomUUID } from "node:crypto";
import {
  AGENT_PATHS,
  AgentRequestAnswers,
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseServerFrame,
  type AgentFrame,
  type AgentRequestAnswer,
  type AgentRequestInput,
  type AgentRequestName,
  type HostFacts,
} from "@berth/protocol";
import type { Logger } from "pino";
import type { LinkCredential } from "../state/index.ts";
import { Backoff } from "./backoff.ts";
import { pinnedConnection } from "./pinned-tls.ts";
import { LinkStream, type StreamHandler } from "./stream-channel.ts";
import { errorCode } from "../errors.ts";

/** Requests to the control plane in flight at once; one more is refused (a bound on what waits here). */
const MAX_PENDING_REQUESTS = 256;

/** A request the control plane refused or could not answer, with its error code (NOT_FOUND, INVALID, FORBIDDEN…). */
export class ControlPlaneRequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface PendingRequest {
  resolve(result: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Close codes from the control plane that mean "stop trying" (see core's CLOSE). */
const CLOSE_REVOKED = 4401;

export interface CommandContext {
  /** Sends a progress frame for this command (e.g. a pull's per-layer bytes). */
  progress(data: unknown): void;
}

export type CommandHandler = (args: unknown, ctx: CommandContext) => Promise<unknown>;

export interface AgentLinkOptions {
  credential: LinkCredential;
  agentVersion: string;
  logger: Logger;
  collectFacts(): Promise<HostFacts>;
  /** How often facts are re-read and sent when they changed. */
  factsIntervalMs?: number;
  commands?: Record<string, CommandHandler>;
  /** Resource counters for the control plane's stats history, sent every `statsIntervalMs` while linked. */
  collectStats?: () => AgentFrame[];
  statsIntervalMs?: number;
  /** Inventory frames of the kinds that changed since `sent` (which it updates); see inventory.ts. */
  collectInventory?: (sent: Map<string, string>) => Promise<AgentFrame[]>;
  /** The longest an inventory change waits to be sent when nothing nudges it sooner. */
  inventoryIntervalMs?: number;
  /** Stream sources by kind (logs, stats, exec, events). */
  streams?: Partial<Record<string, StreamHandler>>;
  /** The control plane has kept the host's events up to `seq` (see the event outbox). */
  onEventsAck?: (stream: string, seq: number) => void;
  backoff?: Backoff;
}

/**
 * The agent's end of the link: dials out, says hello with the host facts, heartbeats at the
 * interval the control plane asks for, answers commands, and reconnects with backoff.
 * A refused credential (HTTP 401 or close 4401) ends the link for good.
 */
export class AgentLink {
  private ws: WebSocket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private inventoryTimer: NodeJS.Timeout | null = null;
  private inventorySoon: NodeJS.Timeout | null = null;
  /** What this connection has sent of each inventory kind (a new connection sends all). */
  private inventorySent = new Map<string, string>();
  private inventoryBusy = false;
  /** A nudge that came while a report was being made: make another after it. */
  private inventoryAgain = false;
  private factsTimer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private lastFactsJson = "";
  /** The control plane's frame limit (its welcome says it), in bytes of encoded JSON. */
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  /** Open streams of the current connection; they end with it. */
  private readonly streams = new Map<string, LinkStream>();
  /** Requests of this agent waiting for the control plane's answer (they fail with the connection). */
  private readonly requests = new Map<string, PendingRequest>();
  private stopped = false;
  private readonly backoff: Backoff;
  /** The control plane's addresses (its replicas); each reconnect tries the next. */
  private readonly urls: string[];
  private urlIndex = 0;
  private resolveDone!: (reason: "stopped" | "refused") => void;
  /** Resolves when the link ends: stopped locally, or refused by the control plane. */
  readonly done = new Promise<"stopped" | "refused">((r) => (this.resolveDone = r));

  constructor(private readonly opts: AgentLinkOptions) {
    this.backoff = opts.backoff ?? new Backoff();
    this.urls = opts.credential.urls?.length ? opts.credential.urls : [opts.credential.url];
  }

  private get log() {
    return this.opts.logger;
  }

  /** Whether the link is up and welcomed (heartbeats running). */
  get linked(): boolean {
    return this.heartbeat !== null && this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.connect();
    this.factsTimer = setInterval(() => void this.sendFactsIfChanged(), this.opts.factsIntervalMs ?? 30_000);
  }

  stop(): void {
    this.finish("stopped");
  }

  private finish(reason: "stopped" | "refused"): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.factsTimer) clearInterval(this.factsTimer);
    this.stopHeartbeat();
    this.ws?.close(1000, "agent stopping");
    this.resolveDone(reason);
  }

  private connect(): void {
    if (this.stopped) return;
    const base = this.urls[this.urlIndex % this.urls.length]!;
    const url = new URL(AGENT_PATHS.link, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.opts.credential.credential}` },
      maxPayload: DEFAULT_MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      // A pinned control plane: the credential header goes out only after the certificate matched.
      ...(this.opts.credential.fingerprint ? { createConnection: pinnedConnection(this.opts.credential.fingerprint) } : {}),
    });
    this.ws = ws;

    ws.on("unexpected-response", (_req, res) => {
      if (res.statusCode === 401 || res.statusCode === 403) {
        this.log.error({ status: res.statusCode }, "control plane refused this host's credential; re-join with a new token");
        ws.terminate();
        this.finish("refused");
        return;
      }
      this.log.warn({ status: res.statusCode }, "control plane refused the link");
      ws.terminate();
    });
    ws.on("open", async () => {
      try {
        const facts = await this.opts.collectFacts();
        this.lastFactsJson = JSON.stringify(facts);
        this.send({ type: "hello", v: PROTOCOL_VERSION, agentVersion: this.opts.agentVersion, facts });
      } catch (err) {
        this.log.error({ err }, "could not collect host facts");
        ws.close();
      }
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const parsed = parseServerFrame(data.toString());
      if (!parsed.ok) {
        this.log.warn({ reason: parsed.reason }, "ignoring invalid frame from control plane");
        return;
      }
      const frame = parsed.frame;
      if (frame.type === "welcome") {
        this.backoff.reset();
        this.maxFrameBytes = Math.min(frame.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES);
        this.startHeartbeat(frame.heartbeatMs);
        this.log.info({ hostId: frame.hostId, url: base }, "linked to control plane");
        for (const f of this.linkedListeners) f();
      } else if (frame.type === "command") {
        void this.runCommand(frame.id, frame.command, frame.args);
      } else if (frame.type === "stream.open") {
        void this.runStream(frame.id, frame.kind, frame.args, frame.credit);
      } else if (frame.type === "stream.credit") {
        this.streams.get(frame.id)?.grant(frame.n);
      } else if (frame.type === "stream.input") {
        this.streams.get(frame.id)?.input({
          ...(frame.data !== undefined ? { data: frame.data } : {}),
          ...(frame.resize ? { resize: frame.resize } : {}),
          ...(frame.eof ? { eof: true as const } : {}),
        });
      } else if (frame.type === "stream.close") {
        this.streams.get(frame.id)?.close();
      } else if (frame.type === "events.ack") {
        this.opts.onEventsAck?.(frame.stream, frame.seq);
      } else if (frame.type === "answer") {
        const p = this.requests.get(frame.id);
        if (!p) return;
        this.requests.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.ok) p.resolve(frame.result);
        else
          p.reject(
            new ControlPlaneRequestError(frame.error?.message ?? "the control plane refused the request", frame.error?.code ?? "FAILED"),
          );
      }
    });
    ws.on("error", (err) => this.log.warn({ err: err.message }, "link error"));
    ws.on("close", (code, reason) => {
      this.stopHeartbeat();
      for (const s of this.streams.values()) s.close();
      this.streams.clear();
      this.failRequests("the link to the control plane closed before it answered");
      if (this.ws === ws) this.ws = null;
      if (code === CLOSE_REVOKED) {
        this.log.error({ reason: reason.toString() }, "control plane revoked this host");
        this.finish("refused");
        return;
      }
      if (this.stopped) return;
      // Any replica serves any host: the next address is as good, and this one may be gone.
      this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      const delay = this.backoff.next();
      this.log.info({ code, reason: reason.toString(), retryInMs: delay, next: this.urls[this.urlIndex] }, "link closed; reconnecting");
      this.retry = setTimeout(() => this.connect(), delay);
    });
  }

  /**
   * Sends a frame if it fits the control plane's limit, in bytes of encoded JSON: one frame over
   * it would close the whole link. Sources keep their frames small; this is the last guard. A reply
   * too large becomes an error reply saying so; anything else too large is left out and logged.
   * Returns false when the frame was not sent for its size.
   */
  private send(frame: AgentFrame): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return true;
    const json = JSON.stringify(frame);
    const bytes = Buffer.byteLength(json);
    if (bytes <= this.maxFrameBytes) {
      this.ws.send(json);
      return true;
    }
    this.log.error({ type: frame.type, bytes, limit: this.maxFrameBytes }, "frame over the link's limit left out");
    if (frame.type === "reply") {
      this.send({
        type: "reply",
        id: frame.id,
        ok: false,
        error: {
          code: "FAILED",
          message: `the answer is ${bytes} bytes, over the link's limit of ${this.maxFrameBytes}: ask for less (a shorter tail, a filter)`,
        },
      });
    }
    return false;
  }

  /**
   * Asks the control plane something (an overlay address); the answer is checked against the
   * protocol's schema. Fails at once when not linked: callers surface that as the operation's error.
   */
  async request<R extends AgentRequestName>(method: R, args: AgentRequestInput<R>, timeoutMs = 15_000): Promise<AgentRequestAnswer<R>> {
    if (!this.linked) throw new ControlPlaneRequestError("this host is not linked to its control plane", "UNAVAILABLE");
    if (this.requests.size >= MAX_PENDING_REQUESTS)
      throw new ControlPlaneRequestError("too many requests to the control plane in flight", "UNAVAILABLE");
    const id = randomUUID();
    const result = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new ControlPlaneRequestError(`the control plane did not answer ${method} within ${timeoutMs} ms`, "UNAVAILABLE"));
      }, timeoutMs);
      this.requests.set(id, { resolve, reject, timer });
      this.send({ type: "request", id, method, args });
    });
    const checked = AgentRequestAnswers[method].safeParse(result);
    if (!checked.success) throw new ControlPlaneRequestError(`invalid answer to ${method}: ${checked.error.message}`, "FAILED");
    return checked.data as AgentRequestAnswer<R>;
  }

  private readonly linkedListeners: Array<() => void> = [];

  /** Called each time the control plane welcomes this host (the first link and every re-link). */
  onLinked(f: () => void): void {
    this.linkedListeners.push(f);
  }

  /** This end's address on the underlay: where the link to the control plane leaves from (the VTEP of overlay networks). */
  get localAddress(): string | null {
    const a = (this.ws as unknown as { _socket?: { localAddress?: string } } | null)?._socket?.localAddress;
    return a ? a.replace(/^::ffff:/, "") : null;
  }

  private failRequests(why: string): void {
    for (const p of this.requests.values()) {
      clearTimeout(p.timer);
      p.reject(new ControlPlaneRequestError(why, "UNAVAILABLE"));
    }
    this.requests.clear();
  }

  private startHeartbeat(ms: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.send({ type: "heartbeat", at: Date.now() }), ms);
    this.inventorySent = new Map();
    if (this.opts.collectInventory) {
      void this.sendInventory();
      this.inventoryTimer = setInterval(() => void this.sendInventory(), this.opts.inventoryIntervalMs ?? 10_000);
    }
    const collect = this.opts.collectStats;
    if (collect) {
      this.statsTimer = setInterval(() => {
        // A link that cannot keep up skips a round rather than queueing reports.
        if (!this.ws || this.ws.bufferedAmount > DEFAULT_MAX_FRAME_BYTES) return;
        try {
          for (const f of collect()) this.send(f);
        } catch (err) {
          this.log.warn({ err }, "could not collect stats");
        }
      }, this.opts.statsIntervalMs ?? 1_000);
    }
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.inventoryTimer) clearInterval(this.inventoryTimer);
    this.heartbeat = null;
    this.statsTimer = null;
    this.inventoryTimer = null;
  }

  /** Something changed on the host (an event): send the inventory shortly, coalescing bursts. */
  nudgeInventory(): void {
    if (!this.inventoryTimer || this.inventorySoon) return;
    this.inventorySoon = setTimeout(() => {
      this.inventorySoon = null;
      void this.sendInventory();
    }, 500);
  }

  private async sendInventory(): Promise<void> {
    if (!this.opts.collectInventory || !this.linked) return;
    if (this.inventoryBusy) {
      this.inventoryAgain = true;
      return;
    }
    this.inventoryBusy = true;
    try {
      for (const f of await this.opts.collectInventory(this.inventorySent)) this.send(f);
    } catch (err) {
      this.log.warn({ err }, "could not collect the inventory");
    } finally {
      this.inventoryBusy = false;
    }
    if (this.inventoryAgain) {
      this.inventoryAgain = false;
      await this.sendInventory();
    }
  }

  private async sendFactsIfChanged(): Promise<void> {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    try {
      const facts = await this.opts.collectFacts();
      const json = JSON.stringify(facts);
      if (json !== this.lastFactsJson) {
        this.lastFactsJson = json;
        this.send({ type: "facts", facts });
      }
    } catch (err) {
      this.log.warn({ err }, "could not refresh host facts");
    }
  }

  /** Runs a stream source until it finishes, fails, or the control plane closes the stream. */
  private async runStream(id: string, kind: string, args: unknown, credit: number): Promise<void> {
    const handler = this.opts.streams?.[kind];
    if (!handler) {
      this.send({ type: "stream.end", id, error: { code: "UNKNOWN_COMMAND", message: `unknown stream ${kind}` } });
      return;
    }
    const ws = this.ws;
    const stream: LinkStream = new LinkStream(credit, (data) => {
      if (this.ws !== ws || this.send({ type: "stream.data", id, data })) return;
      // A message too large for the link ends its stream, with the reason, and nothing else.
      stream.close();
      this.send({ type: "stream.end", id, error: { code: "FAILED", message: "a stream message was over the link's frame limit" } });
    });
    this.streams.set(id, stream);
    try {
      await handler(args, stream);
      if (!stream.signal.aborted) this.send({ type: "stream.end", id });
    } catch (e) {
      if (!stream.signal.aborted)
        this.send({
          type: "stream.end",
          id,
          error: { code: errorCode(e), message: (e instanceof Error ? e.message : String(e)).slice(0, 4000) },
        });
    } finally {
      stream.close();
      if (this.streams.get(id) === stream) this.streams.delete(id);
    }
  }

  private async runCommand(id: string, command: string, args: unknown): Promise<void> {
    const handler = this.opts.commands?.[command];
    if (!handler) {
      this.send({ type: "reply", id, ok: false, error: { code: "UNKNOWN_COMMAND", message: `unknown command ${command}` } });
      return;
    }
    try {
      const result = await handler(args, { progress: (data) => this.send({ type: "progress", id, data }) });
      this.send({ type: "reply", id, ok: true, result });
    } catch (e) {
      this.send({
        type: "reply",
        id,
        ok: false,
        error: { code: errorCode(e), message: (e instanceof Error ? e.message : String(e)).slice(0, 4000) },
      });
    }
  }
}
