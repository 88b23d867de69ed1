import type { Duplex } from "node:stream";
import type { RawData } from "ws";

/** A WebSocket message as text, however ws delivered it. */
export function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}

/** Answers an upgrade that is refused with a JSON error, and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: 401 | 503, message: string): void {
  const text = status === 401 ? "Unauthorized" : "Service Unavailable";
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
