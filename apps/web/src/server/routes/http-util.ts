import type { IncomingMessage, ServerResponse } from "node:http";

export class BodyTooLargeError extends Error {}

/** Reads a request body up to `limit` bytes; larger bodies are refused before they are buffered. */
export async function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** As readRawBody, as UTF-8 text. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return (await readRawBody(req, limit)).toString("utf8");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** The client address; X-Forwarded-For is trusted only from a proxy on loopback. */
export function clientIp(req: IncomingMessage): string | null {
  const direct = req.socket.remoteAddress ?? null;
  const fwd = req.headers["x-forwarded-for"];
  if (direct && (direct === "127.0.0.1" || direct === "::1" || direct === "::ffff:127.0.0.1") && typeof fwd === "string") {
    return fwd.split(",")[0]!.trim() || direct;
  }
  return direct;
}
