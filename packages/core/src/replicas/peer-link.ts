import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { pinnedConnection } from "@berth/protocol/pinned-tls";
import type { CommandName, StreamKind } from "@berth/protocol";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { AgentGateway, AgentStream, HostRouter, StreamControlFrame, StreamEnd, StreamLink } from "../agent-gateway.ts";
import type { Db } from "@berth/db";
import { DOMAIN_ERROR_CODES, DomainError, type DomainErrorCode, isDomainError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import {
  commandArgsOf,
  PEER_AUTH_SCHEME,
  PEER_MAX_FRAME_BYTES,
  PEER_PATH,
  type PeerAnswer,
  PeerAnswerSchema,
  type PeerRequest,
  PeerRequestSchema,
  streamArgsOf,
} from "./peer-frames.ts";
import { rawText, refuseUpgrade } from "../ws-util.ts";
import type { ReplicaInfo, ReplicaRegistry } from "./registry.ts";

/*
 * Forwarding between control-plane processes. Why direct links and not LISTEN/NOTIFY: a reply
 * (a container list, an inspect) is often past NOTIFY's 8000 bytes, and a stream needs its
 * frames in order with flow control; one WebSocket per pair of processes carries both, with the
 * agent protocol's own stream frames. Postgres says which process holds a host (host.linkedReplicaId)
 * and where that process listens (control_plane_replica), and vouches for a peer: a process
 * presents its id and secret, checked against the registered hash.
 */

/** Both ends of a process's internal channel. */
export class PeerLinks implements HostRouter {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: PEER_MAX_FRAME_BYTES });
  private readonly outgoing = new Map<string, Promise<PeerConnection>>();
  private readonly served = new Set<WebSocket>();

  constructor(
    private readonly o: {
      db: Db;
      registry: ReplicaRegistry;
      /** The gateway of this process: what peers' requests run on. */
      gateway: () => AgentGateway;
      logger: Logger;
    },
  ) {}

  // ---- forwarder side (HostRouter) ----

  async command(
    hostId: string,
    command: CommandName,
    args: unknown,
    opts: { timeoutMs: number; onProgress?: (data: unknown) => void },
  ): Promise<unknown> {
    const conn = await this.connectionFor(hostId);
    return conn.command(hostId, command, args, opts);
  }

  openStream(hostId: string, id: string, kind: StreamKind, args: unknown, credit: number, end: StreamEnd): StreamLink {
    // Control frames wait for the connection; a failure to reach the owner ends the stream.
    const queued: StreamControlFrame[] = [];
    let conn: PeerConnection | null = null;
    let ended = false;
    this.connectionFor(hostId)
      .then((c) => {
        if (ended) return;
        conn = c;
        c.open(hostId, id, kind, args, credit, end);
        for (const f of queued.splice(0)) c.send(f);
      })
      .catch((e: unknown) => {
        ended = true;
        end.finish(isDomainError(e) ? e : new DomainError("UNAVAILABLE", String(e)));
      });
    return {
      hostId,
      send: (frame) => {
        if (conn) conn.send(frame);
        else if (!ended && queued.length < 64) queued.push(frame);
      },
      forget: (sid) => {
        ended = true;
        conn?.forget(sid);
      },
    };
  }

  /** The link to the process holding `hostId`'s agent. */
  private async connectionFor(hostId: string): Promise<PeerConnection> {
    const host = await this.o.db.host.findUnique({ where: { id: hostId }, select: { linkedReplicaId: true } });
    if (!host) throw new DomainError("NOT_FOUND", "no such host");
    const owner = host.linkedReplicaId;
    if (!owner) throw new DomainError("HOST_OFFLINE", "host is not connected");
    if (owner === this.o.registry.id) throw new DomainError("HOST_OFFLINE", "host is not connected");
    const replica = await this.o.registry.lookup(owner);
    if (!replica) throw new DomainError("HOST_OFFLINE", "host was linked to a control-plane process that is gone; it will re-link");
    let pending = this.outgoing.get(replica.id);
    if (!pending) {
      pending = PeerConnection.open(replica, this.o.registry.credential, this.o.logger, () => this.outgoing.delete(replica.id));
      this.outgoing.set(replica.id, pending);
      pending.catch(() => this.outgoing.delete(replica.id));
    }
    return pending;
  }

  // ---- owner side ----

  /** Serves a peer's upgrade on PEER_PATH: a registered, live replica's credential, or 401. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => {});
    const header = req.headers.authorization ?? "";
    const presented = header.startsWith(`${PEER_AUTH_SCHEME} `) ? header.slice(PEER_AUTH_SCHEME.length + 1).trim() : "";
    this.o.registry
      .verify(presented)
      .then((peer) => {
        if (!peer) {
          this.o.logger.warn({ remoteAddr: req.socket.remoteAddress }, "internal call refused: not a registered control-plane process");
          return refuseUpgrade(socket, 401, "not a registered control-plane process");
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, peer));
      })
      .catch((err: unknown) => {
        this.o.logger.error({ err }, "internal call: the registry could not be read");
        refuseUpgrade(socket, 503, "control plane unavailable");
      });
  }

  private serve(ws: WebSocket, peer: string): void {
    this.served.add(ws);
    const streams = new Map<string, AgentStream>();
    const answer = (frame: PeerAnswer) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };
    const fail = (id: string, e: unknown) =>
      answer({
        type: "reply",
        id,
        ok: false,
        error: isDomainError(e)
          ? { code: e.code, message: e.message.slice(0, 8000) }
          : { code: "UNAVAILABLE", message: String(e).slice(0, 8000) },
      });
    ws.on("message", (raw: RawData) => {
      let frame: PeerRequest;
      try {
        const parsed = PeerRequestSchema.safeParse(JSON.parse(rawText(raw)));
        if (!parsed.success) throw new Error(parsed.error.message.slice(0, 200));
        frame = parsed.data;
      } catch (e) {
        this.o.logger.warn({ peer, err: String(e) }, "closing internal link: bad frame");
        ws.close(1008, "bad frame");
        return;
      }
      const gateway = this.o.gateway();
      switch (frame.type) {
        case "command": {
          const command = frame.command;
          const checked = commandArgsOf(command, frame.args);
          if (!checked.ok) return fail(frame.id, new DomainError("INVALID", `invalid ${command} arguments: ${checked.reason}`));
          const id = frame.id;
          // Only hosts linked here: a host that moved again is the forwarder's to find, not ours to chase.
          // The arguments were checked against the command's schema just above; they go on as the
          // forwarder sent them (the agent parses them again), hence the cast to the command's input.
          gateway
            .commandLocal(frame.hostId, command, frame.args as never, {
              timeoutMs: frame.timeoutMs,
              ...(frame.progress ? { onProgress: (data: unknown) => answer({ type: "progress", id, data }) } : {}),
            })
            .then((result) => answer({ type: "reply", id, ok: true, result }))
            .catch((e: unknown) => fail(id, e));
          return;
        }
        case "stream.open": {
          const id = frame.id;
          const checked = streamArgsOf(frame.kind, frame.args);
          if (!checked.ok) {
            answer({ type: "stream.end", id, error: { code: "INVALID", message: `invalid ${frame.kind} arguments: ${checked.reason}` } });
            return;
          }
          try {
            // Checked against the kind's schema above; sent on as they came (see commands).
            const stream = gateway.openStreamLocal(frame.hostId, frame.kind, frame.args as never, frame.credit, {
              data: (data) => answer({ type: "stream.data", id, data }),
              end: (e) => {
                streams.delete(id);
                answer({ type: "stream.end", id, ...(e ? { error: { code: e.code, message: e.message.slice(0, 8000) } } : {}) });
              },
            });
            streams.set(id, stream);
          } catch (e) {
            answer({
              type: "stream.end",
              id,
              error: isDomainError(e) ? { code: e.code, message: e.message } : { code: "UNAVAILABLE", message: String(e) },
            });
          }
          return;
        }
        case "stream.credit":
          streams.get(frame.id)?.grant(frame.n);
          return;
        case "stream.input": {
          const { type: _t, id, ...input } = frame;
          streams.get(id)?.input(input);
          return;
        }
        case "stream.close":
          streams.get(frame.id)?.close();
          return;
      }
    });
    ws.on("close", () => {
      this.served.delete(ws);
      for (const s of [...streams.values()]) s.close();
      streams.clear();
    });
    ws.on("error", () => undefined);
  }

  async close(): Promise<void> {
    for (const p of this.outgoing.values()) void p.then((c) => c.close()).catch(() => undefined);
    this.outgoing.clear();
    for (const ws of this.served) ws.close(1001, "shutting down");
    this.wss.close();
  }
}

/** How often an idle link to another process is checked; two unanswered pings close it. */
const PEER_PING_MS = 10_000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  progress?: ((data: unknown) => void) | undefined;
  timer: NodeJS.Timeout;
}

/** The forwarder's end of one link to another process: commands in flight and streams open over it. */
class PeerConnection {
  private readonly pending = new Map<string, Pending>();
  private readonly streams = new Map<string, StreamEnd>();
  private seq = 0;

  private constructor(
    private readonly ws: WebSocket,
    private readonly peer: ReplicaInfo,
    private readonly log: Logger,
  ) {}

  static open(peer: ReplicaInfo, credential: string, log: Logger, onClose: () => void): Promise<PeerConnection> {
    const url = new URL(PEER_PATH, peer.internalUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, {
      headers: { authorization: `${PEER_AUTH_SCHEME} ${credential}` },
      maxPayload: PEER_MAX_FRAME_BYTES,
      handshakeTimeout: 5_000,
      // A replica's certificate is trusted as it registered it, as agents pin theirs.
      ...(url.protocol === "wss:" && peer.tlsFingerprint ? { createConnection: pinnedConnection(peer.tlsFingerprint) } : {}),
    });
    const conn = new PeerConnection(ws, peer, log);
    // A peer gone without a word (its machine lost) is found by a ping unanswered.
    let answered = true;
    const ping = setInterval(() => {
      if (ws.readyState !== ws.OPEN) return;
      if (!answered) return void ws.terminate();
      answered = false;
      ws.ping();
    }, PEER_PING_MS);
    ping.unref();
    ws.on("pong", () => (answered = true));
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(conn));
      ws.once("unexpected-response", (_req, res) => {
        reject(new DomainError("UNAVAILABLE", `control-plane process ${peer.id} refused the internal link (${res.statusCode})`));
        ws.terminate();
      });
      ws.on("error", (err) => reject(new DomainError("UNAVAILABLE", `control-plane process ${peer.id} cannot be reached: ${err.message}`)));
      ws.on("message", (raw: RawData) => conn.onAnswer(raw));
      ws.on("close", () => {
        clearInterval(ping);
        onClose();
        conn.drop();
      });
    });
  }

  command(
    hostId: string,
    command: CommandName,
    args: unknown,
    opts: { timeoutMs: number; onProgress?: (data: unknown) => void },
  ): Promise<unknown> {
    const id = `c${++this.seq}`;
    return new Promise((resolve, reject) => {
      // The owner times the agent out; this covers the way there and back.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DomainError("TIMEOUT", `host did not answer ${command} within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs + 5_000);
      this.pending.set(id, { resolve, reject, progress: opts.onProgress, timer });
      this.send({ type: "command", id, hostId, command, args, timeoutMs: opts.timeoutMs, progress: Boolean(opts.onProgress) });
    });
  }

  open(hostId: string, id: string, kind: StreamKind, args: unknown, credit: number, end: StreamEnd): void {
    this.streams.set(id, end);
    this.send({ type: "stream.open", id, hostId, kind, args, credit });
  }

  forget(id: string): void {
    this.streams.delete(id);
  }

  send(frame: PeerRequest | StreamControlFrame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close(): void {
    this.ws.close(1001, "shutting down");
  }

  private onAnswer(raw: RawData): void {
    let frame: PeerAnswer;
    try {
      const parsed = PeerAnswerSchema.safeParse(JSON.parse(rawText(raw)));
      if (!parsed.success) throw new Error(parsed.error.message.slice(0, 200));
      frame = parsed.data;
    } catch (e) {
      this.log.warn({ peer: this.peer.id, err: String(e) }, "closing internal link: bad answer");
      this.ws.close(1008, "bad frame");
      return;
    }
    switch (frame.type) {
      case "reply": {
        const p = this.pending.get(frame.id);
        if (!p) return;
        this.pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.ok) p.resolve(frame.result);
        else p.reject(new DomainError(domainCode(frame.error?.code ?? ""), frame.error?.message ?? "the other process reported an error"));
        return;
      }
      case "progress":
        this.pending.get(frame.id)?.progress?.(frame.data);
        return;
      case "stream.data":
        this.streams.get(frame.id)?.deliver(frame.data);
        return;
      case "stream.end": {
        const end = this.streams.get(frame.id);
        this.streams.delete(frame.id);
        end?.finish(frame.error ? new DomainError(domainCode(frame.error.code), frame.error.message) : undefined);
        return;
      }
    }
  }

  /** The link went: what was in flight fails, as a lost agent link fails it. */
  private drop(): void {
    const gone = () => new DomainError("HOST_OFFLINE", `the control-plane process holding this host (${this.peer.id}) went away`);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(gone());
    }
    this.pending.clear();
    for (const s of [...this.streams.values()]) s.finish(gone());
    this.streams.clear();
  }
}

/** Another process's error code, as ours; one this version does not know is UNAVAILABLE. */
const domainCode = (code: string): DomainErrorCode => DOMAIN_ERROR_CODES.find((c) => c === code) ?? "UNAVAILABLE";
