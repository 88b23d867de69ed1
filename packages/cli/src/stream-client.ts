import { WebSocket } from "ws";
import { z } from "zod";
import { parseStreamData, type StreamDataOf, type StreamKind } from "@berth/protocol";

/*
 * A client for the control plane's live streams (/api/streams/<kind>, see @berth/api streams.ts).
 * Messages are taken with an async iterator, and each one is acknowledged only when the
 * consumer asks for the next: the consumer's own pace is the flow control. Each message is
 * checked against its kind's data schema (StreamData in @berth/protocol) before it is handed out.
 */

export interface StreamClientOptions<K extends StreamKind = StreamKind> {
  /** The control plane's base URL (http or https). */
  url: string;
  kind: K;
  hostId: string;
  /** The stream's arguments, as query parameters; an array repeats the parameter. */
  params?: Record<string, string | number | boolean | string[] | undefined>;
  /** Authorization (Bearer token) or cookie, plus Origin for a cookie. */
  headers?: Record<string, string>;
  /** Messages the server may send ahead of the consumer. */
  window?: number;
  /** Accept a self-signed control plane (tests, a lab); pin its certificate in production. */
  rejectUnauthorized?: boolean;
}

export class StreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the control plane sends on a stream (see @berth/api streams.ts). */
const ServerMessage = z.discriminatedUnion("t", [
  z.object({ t: z.literal("data"), d: z.unknown() }),
  z.object({ t: z.literal("end"), error: z.object({ code: z.string(), message: z.string() }).optional() }),
]);

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export class StreamClient<K extends StreamKind = StreamKind> implements AsyncIterable<StreamDataOf<K>> {
  private readonly ws: WebSocket;
  private readonly queue: Array<StreamDataOf<K>> = [];
  private waiting: { resolve(r: IteratorResult<StreamDataOf<K>>): void; reject(e: Error): void } | null = null;
  private done = false;
  private failure: Error | null = null;
  private owed = 0;
  readonly opened: Promise<void>;

  constructor(o: StreamClientOptions<K>) {
    const u = new URL(`/api/streams/${o.kind}`, o.url);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (o.hostId) u.searchParams.set("hostId", o.hostId); // none: the fleet-wide events feed
    if (o.window) u.searchParams.set("window", String(o.window));
    for (const [k, v] of Object.entries(o.params ?? {})) {
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x);
      else if (v !== undefined) u.searchParams.set(k, String(v));
    }
    this.ws = new WebSocket(u, { headers: o.headers ?? {}, ...(o.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => {
          let message = body;
          try {
            message = (JSON.parse(body) as { message?: string }).message ?? body;
          } catch {
            /* plain text */
          }
          const err = new StreamError(String(res.statusCode), message || `HTTP ${res.statusCode}`);
          this.fail(err);
          reject(err);
        });
      });
      this.ws.once("error", (e) => {
        this.fail(e);
        reject(e);
      });
    });
    this.opened.catch(() => undefined);
    this.ws.on("message", (raw) => {
      const msg = ServerMessage.safeParse(safeJson(raw.toString()));
      if (!msg.success)
        return this.abandon(new StreamError("INVALID", "the control plane sent a message that is not part of the stream protocol"));
      if (msg.data.t === "end") {
        if (msg.data.error) this.fail(new StreamError(msg.data.error.code, msg.data.error.message));
        else this.finish();
        return;
      }
      const data = parseStreamData(o.kind, msg.data.d);
      if (!data.ok) return this.abandon(new StreamError("UPSTREAM", `invalid ${o.kind} stream data: ${data.reason}`));
      this.push(data.value);
    });
    this.ws.on("close", () => this.finish());
  }

  /** Sends keystrokes (exec). */
  input(data: string): void {
    this.ws.send(JSON.stringify({ t: "input", data }));
  }

  /** Ends the input (exec): the command reads end-of-file. */
  eof(): void {
    this.ws.send(JSON.stringify({ t: "eof" }));
  }

  resize(cols: number, rows: number): void {
    this.ws.send(JSON.stringify({ t: "resize", cols, rows }));
  }

  /** Ends the stream from this side (the server stops the source). */
  close(): void {
    this.ws.close(1000);
    this.finish();
  }

  /** Drops the connection without a close handshake, as a network failure would. */
  terminate(): void {
    this.ws.terminate();
    this.finish();
  }

  next(): Promise<IteratorResult<StreamDataOf<K>>> {
    // The message handed out last is consumed: acknowledge it now.
    if (this.owed > 0 && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ t: "ack", n: this.owed }));
    this.owed = 0;
    const item = this.queue.shift();
    if (item !== undefined) {
      this.owed++;
      return Promise.resolve({ value: item, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamDataOf<K>> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  private push(item: StreamDataOf<K>): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      this.owed++;
      w.resolve({ value: item, done: false });
    } else this.queue.push(item);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.queue.length === 0 && this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      if (this.failure) w.reject(this.failure);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream from this side with an error: what came is not what was asked for. */
  private abandon(e: Error): void {
    this.fail(e);
    this.ws.close(1000);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    if (this.waiting && this.queue.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(e);
    }
    this.done = true;
  }
}
