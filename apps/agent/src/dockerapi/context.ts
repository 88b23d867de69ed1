import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { Duplex, type Writable } from "node:stream";
import type { Socket } from "node:net";
import type { z } from "zod";
import { badRequest, DockerApiError } from "./errors.ts";

/** Request bodies bigger than this are refused, except the streamed ones (image load/import, archive). */
const MAX_JSON_BODY = 4 << 20;

/** One Docker API request and the ways a handler can answer it. */
export interface ApiContext {
  method: string;
  /** The path without its /vX.Y prefix. */
  path: string;
  /** The API version this request speaks (negotiated, or the server's own without a prefix). */
  version: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body as a stream (image load and import, `docker cp` into a container). */
  req: IncomingMessage;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  json(status: number, body: unknown): void;
  empty(status: number): void;
  text(status: number, body: string, contentType?: string): void;
  /** A streamed response (logs, events, stats, pull progress): headers are sent at once. */
  stream(status: number, contentType: string, headers?: Record<string, string>): Writable;
  /**
   * Takes over the connection for attach and exec: `101 UPGRADED` when the client asked to
   * upgrade (the docker CLI does), else a 200 whose body is the raw stream.
   */
  hijack(contentType: string): Duplex;
  /** The JSON body checked against `schema`; an empty body is `{}`. */
  body<S extends z.ZodType>(schema: S): Promise<z.output<S>>;
}

export function baseHeaders(apiVersion: string, serverVersion: string): Record<string, string> {
  return {
    "Api-Version": apiVersion,
    "Docker-Experimental": "false",
    Ostype: "linux",
    Server: `Berth/${serverVersion} (linux)`,
  };
}

/** The plain answers, the same over either transport. */
function replies(send: (status: number, body: string | null, contentType?: string) => void): Pick<ApiContext, "json" | "empty" | "text"> {
  return {
    json: (status, body) => send(status, `${JSON.stringify(body)}\n`),
    empty: (status) => send(status, null),
    text: (status, body, contentType = "text/plain; charset=utf-8") => send(status, body, contentType),
  };
}

async function readJsonBody<S extends z.ZodType>(req: IncomingMessage, schema: S): Promise<z.output<S>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_JSON_BODY) throw new DockerApiError(413, `request body larger than ${MAX_JSON_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  let value: unknown = {};
  if (text) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw badRequest(`invalid JSON in request body: ${(e as Error).message}`);
    }
  }
  // `null` is what some clients send for "no body".
  return schema.parse(value ?? {});
}

/** Answers through node's ServerResponse: the usual request path. */
export function httpContext(
  base: Omit<ApiContext, "json" | "empty" | "text" | "stream" | "hijack" | "body" | "signal">,
  res: ServerResponse,
  headers: Record<string, string>,
): ApiContext {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const send = (status: number, body: string | null, contentType?: string) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const h: Record<string, string | number> = { ...headers };
    if (body !== null) {
      h["Content-Type"] = contentType ?? "application/json";
      h["Content-Length"] = Buffer.byteLength(body);
    }
    res.writeHead(status, h);
    res.end(body ?? undefined);
  };
  return {
    ...base,
    signal: abort.signal,
    ...replies(send),
    stream: (status, contentType, extra = {}) => {
      res.writeHead(status, { ...headers, ...extra, "Content-Type": contentType });
      res.flushHeaders();
      return res;
    },
    hijack: (contentType) => {
      res.writeHead(200, { ...headers, "Content-Type": contentType });
      res.flushHeaders();
      // Input comes from the request body, output goes to the response.
      return Duplex.from({ readable: base.req, writable: res });
    },
    body: (schema) => readJsonBody(base.req, schema),
  };
}

/** Answers on a raw socket: requests that asked to upgrade (attach, exec start). */
export function upgradeContext(
  base: Omit<ApiContext, "json" | "empty" | "text" | "stream" | "hijack" | "body" | "signal">,
  socket: Socket,
  head: Buffer,
  headers: Record<string, string>,
): ApiContext {
  const abort = new AbortController();
  socket.on("close", () => abort.abort());
  let answered = false;
  const head1 = (status: number, h: Record<string, string | number>) =>
    `HTTP/1.1 ${status} ${status === 101 ? "UPGRADED" : (STATUS_CODES[status] ?? "")}\r\n${Object.entries(h)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\r\n")}\r\n\r\n`;
  const send = (status: number, body: string | null, contentType = "application/json") => {
    if (answered) return socket.end();
    answered = true;
    const b = body ?? "";
    socket.end(
      head1(status, {
        ...headers,
        ...(body !== null ? { "Content-Type": contentType } : {}),
        "Content-Length": Buffer.byteLength(b),
        Connection: "close",
      }) + b,
    );
  };
  return {
    ...base,
    signal: abort.signal,
    ...replies(send),
    stream: () => {
      throw new DockerApiError(400, "this endpoint does not upgrade the connection");
    },
    hijack: (contentType) => {
      answered = true;
      socket.write(head1(101, { ...headers, "Content-Type": contentType, Connection: "Upgrade", Upgrade: "tcp" }));
      // Bytes the client sent right after its request headers belong to the stream.
      if (head.length > 0) socket.unshift(head);
      // Reading the request body may have paused the socket, and a paused socket stays paused
      // when a 'data' listener is added: the client's input (exec -it keystrokes) would never be
      // read. The caller attaches its listeners now; the socket flows from the next tick.
      if (socket.readableFlowing === false) process.nextTick(() => socket.listenerCount("data") > 0 && socket.resume());
      return socket;
    },
    body: async (schema) => {
      // An upgrade request carries its JSON body (exec start's {"Detach","Tty"}) before the stream
      // begins; Content-Length says how long it is.
      const length = Number(base.headers["content-length"] ?? 0);
      if (!length) return schema.parse({});
      if (length > MAX_JSON_BODY) throw new DockerApiError(413, "request body too large");
      const buf = await readExactly(socket, head, length);
      head = buf.rest;
      let value: unknown;
      try {
        value = JSON.parse(buf.data.toString("utf8"));
      } catch (e) {
        throw badRequest(`invalid JSON in request body: ${(e as Error).message}`);
      }
      return schema.parse(value ?? {});
    },
  };
}

/** Reads `n` bytes, starting with `head`, from a socket; the remainder is handed back. */
async function readExactly(socket: Socket, head: Buffer, n: number): Promise<{ data: Buffer; rest: Buffer }> {
  let buf = head;
  while (buf.length < n) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => {
        cleanup();
        resolve(d);
      };
      const onEnd = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        socket.off("data", onData);
        socket.off("end", onEnd);
        socket.off("close", onEnd);
        socket.pause();
      };
      socket.on("data", onData);
      socket.once("end", onEnd);
      socket.once("close", onEnd);
      socket.resume();
    });
    if (!chunk) throw badRequest("the connection closed before the request body was complete");
    buf = Buffer.concat([buf, chunk]);
  }
  return { data: buf.subarray(0, n), rest: buf.subarray(n) };
}
