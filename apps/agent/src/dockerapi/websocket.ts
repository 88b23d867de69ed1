// The server side of a WebSocket (RFC 6455) on a hijacked socket, as far as Docker's attach over
// WebSocket needs it: the opening handshake, unfragmented server frames, and client frames read
// one by one (a fragment's payload is passed on as it comes: attach stdin is a byte stream).
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export const WS_OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** Close codes used here: normal closure, protocol error, message too big, server error. */
export const WS_CLOSE = { normal: 1000, protocol: 1002, tooBig: 1009, internal: 1011 } as const;

const HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A client frame larger than this closes the connection (1009): the reader's buffer stays bounded. */
export const MAX_WS_FRAME = 1 << 20;

export interface WsFrame {
  opcode: number;
  payload: Buffer;
}

export class WebSocketProtocolError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const header = (h: string | string[] | undefined) => (Array.isArray(h) ? h.join(",") : (h ?? ""));

/** Why a request is not a WebSocket opening handshake, or null when it is one. */
export function handshakeProblem(headers: IncomingHttpHeaders): string | null {
  if (header(headers.upgrade).toLowerCase() !== "websocket") return "missing 'Upgrade: websocket' header";
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(header(headers.connection))) return "missing 'Connection: Upgrade' header";
  if (header(headers["sec-websocket-version"]) !== "13") return "unsupported Sec-WebSocket-Version (13 is supported)";
  if (!header(headers["sec-websocket-key"])) return "missing Sec-WebSocket-Key header";
  return null;
}

/** The 101 answer that completes the handshake. */
export function handshakeResponse(key: string): string {
  const accept = createHash("sha1").update(`${key}${HANDSHAKE_GUID}`).digest("base64");
  const lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** One unmasked server frame with FIN set. */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 2 : n < 0x10000 ? 4 : 10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = n;
  else if (n < 0x10000) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

export function closeFrame(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return encodeFrame(WS_OPCODE.close, payload);
}

/** Reads client frames from socket chunks; throws WebSocketProtocolError on a malformed or oversized frame. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer): WsFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: WsFrame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private next(): WsFrame | null {
    const b = this.buf;
    if (b.length < 2) return null;
    const opcode = b[0]! & 0x0f;
    if (b[0]! & 0x70) throw new WebSocketProtocolError("reserved bits set without an extension", WS_CLOSE.protocol);
    if (!Object.values(WS_OPCODE).includes(opcode as never))
      throw new WebSocketProtocolError(`unknown opcode ${opcode}`, WS_CLOSE.protocol);
    const masked = (b[1]! & 0x80) !== 0;
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_WS_FRAME)) throw new WebSocketProtocolError("frame too large", WS_CLOSE.tooBig);
      length = Number(big);
      offset = 10;
    }
    if (length > MAX_WS_FRAME) throw new WebSocketProtocolError("frame too large", WS_CLOSE.tooBig);
    const maskAt = offset;
    if (masked) offset += 4;
    if (b.length < offset + length) return null;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= b[maskAt + (i % 4)]!;
    this.buf = b.subarray(offset + length);
    return { opcode, payload };
  }
}
