// Attach over WebSocket (`GET /containers/{id}/attach/ws`), as dockerd serves it: the container's
// output as WebSocket messages (binary from API 1.28, text before), never multiplexed, and the
// client's messages as its stdin, with detach keys.
import type { AttachFrame } from "../runtime/index.ts";
import { badRequest } from "./errors.ts";
import { boolParam } from "@berth/docker-api";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";
import { DetachWatcher, parseDetachKeys } from "@berth/docker-api";
import { atLeast } from "@berth/docker-api";
import {
  closeFrame,
  encodeFrame,
  FrameReader,
  handshakeProblem,
  handshakeResponse,
  WebSocketProtocolError,
  WS_CLOSE,
  WS_OPCODE,
} from "./websocket.ts";

export function attachWebSocketRoutes(r: Router, o: DockerApiOptions): void {
  const c = o.runtime.containers;
  r.get("/containers/{id}/attach/ws", async (ctx) => {
    // The container is looked up first, so a missing one is dockerd's 404 whatever the handshake.
    const id = c.get(ctx.params.id!).id;
    const problem = handshakeProblem(ctx.headers);
    if (problem) throw badRequest(`not a WebSocket handshake: ${problem}`);
    // Before API 1.42 dockerd attaches all three streams, whatever the query says.
    const all = !atLeast(ctx.version, "1.42");
    const wantStdin = all || boolParam(ctx.query, "stdin");
    const stdout = all || boolParam(ctx.query, "stdout");
    const stderr = all || boolParam(ctx.query, "stderr");
    const logs = boolParam(ctx.query, "logs");
    const stream = boolParam(ctx.query, "stream");
    const watcher = new DetachWatcher(parseDetachKeys(ctx.query.get("detachKeys")));
    const session = stream ? await c.attach(id, { stdin: wantStdin, stdout, stderr }) : null;

    const socket = ctx.req.socket;
    socket.write(handshakeResponse(String(ctx.headers["sec-websocket-key"])));
    const opcode = atLeast(ctx.version, "1.28") ? WS_OPCODE.binary : WS_OPCODE.text;
    let closed = false;
    const finish = (code: number) => {
      if (closed) return;
      closed = true;
      session?.detach();
      socket.end(closeFrame(code));
    };
    socket.once("close", () => {
      closed = true;
      session?.detach();
    });
    const send = (data: Buffer) => closed || socket.write(encodeFrame(opcode, data));

    const reader = new FrameReader();
    const stdin = wantStdin ? (session?.stdin ?? null) : null;
    socket.on("data", (chunk: Buffer) => {
      let frames: ReturnType<FrameReader["feed"]>;
      try {
        frames = reader.feed(chunk);
      } catch (e) {
        finish(e instanceof WebSocketProtocolError ? e.code : WS_CLOSE.protocol);
        return;
      }
      for (const f of frames) {
        if (f.opcode === WS_OPCODE.close) {
          // The client is done: its input ends, as when an HTTP attach client closes its side.
          stdin?.end();
          finish(WS_CLOSE.normal);
          return;
        }
        if (f.opcode === WS_OPCODE.ping) socket.write(encodeFrame(WS_OPCODE.pong, f.payload));
        if (f.opcode === WS_OPCODE.ping || f.opcode === WS_OPCODE.pong || !stdin) continue;
        const { pass, detach } = watcher.feed(f.payload);
        if (pass.length) stdin.write(pass);
        if (detach) {
          finish(WS_CLOSE.normal);
          return;
        }
      }
    });
    socket.resume();

    try {
      if (logs) {
        for await (const e of c.logs(id, { stdout, stderr })) {
          if (closed) break;
          send(Buffer.from(e.line));
        }
      }
    } catch {
      finish(WS_CLOSE.internal);
      return;
    }
    if (!session) {
      finish(WS_CLOSE.normal);
      return;
    }
    session.output.on("data", (f: AttachFrame) => {
      if (!send(f.data)) {
        session.output.pause();
        socket.once("drain", () => session.output.resume());
      }
    });
    session.output.once("end", () => finish(WS_CLOSE.normal));
  });
}
