import type { RawData, WebSocket } from "ws";
import { z } from "zod";
import { DomainError, buildLogPieces, getBuild, type BuildRunner, type Logger } from "@berth/core";
import type { Context } from "./context.ts";
import { ClientMessage, safeJson } from "./stream-messages.ts";

/*
 * A build's log, live: the pieces already written, then each new one as it is written, until the
 * build ends. Pieces come from Postgres, so any control-plane process serves any build; the
 * process running it says at once when a piece is written, others look every POLL_MS. The client
 * acknowledges each message and at most `window` are unacknowledged. Resuming: `after` is the last
 * piece number the client has.
 *
 * Server → client: {"t":"data","d":{"pieces":[{"seq","text"}],"status"}} and a last
 * {"t":"end","status"}; client → server: {"t":"ack","n":k}.
 */

export const BUILD_LOGS_PATH = "/api/streams/build-logs";
const POLL_MS = 1_000;
const PIECES_PER_MESSAGE = 50;

export const BuildLogsQuery = z.object({
  build: z.string().min(1).max(64),
  after: z.coerce.number().int().min(0).default(0),
  window: z.coerce.number().int().min(1).max(64).default(8),
});
export type BuildLogsRequest = z.output<typeof BuildLogsQuery>;

/** The build a caller may read the log of, or a refusal. */
export async function buildForLogs(ctx: Context, buildId: string): Promise<void> {
  const b = await getBuild(ctx.db, buildId);
  if (!ctx.memberships.some((m) => m.teamId === b.teamId)) throw new DomainError("FORBIDDEN", "you have no role in this build's team");
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function relayBuildLogs(ws: WebSocket, ctx: Context, q: BuildLogsRequest, runner: BuildRunner | undefined, log: Logger): void {
  let after = q.after;
  let inFlight = 0;
  let closed = false;
  let busy = false;
  let again = false;
  const send = (msg: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));

  /** Sends what is new while the window allows; ends once the build has ended and all is sent. */
  const pump = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        while (!closed && inFlight < q.window) {
          // The status first: a piece written after it is read next time, never lost.
          const { status } = await getBuild(ctx.db, q.build);
          const pieces = await buildLogPieces(ctx.db, q.build, after, PIECES_PER_MESSAGE);
          if (pieces.length === 0) {
            if (FINISHED.has(status)) {
              send({ t: "end", status });
              closed = true;
              ws.close(1000);
            }
            break;
          }
          after = pieces[pieces.length - 1]!.seq;
          inFlight++;
          send({ t: "data", d: { pieces, status } });
        }
      } while (again && !closed);
    } finally {
      busy = false;
    }
  };
  const kick = () => void pump().catch((err: unknown) => log.warn({ err, build: q.build }, "build log stream failed"));
  const onPiece = (id: string) => id === q.build && kick();
  runner?.on("piece", onPiece);
  runner?.on("ended", onPiece);
  const poll = setInterval(kick, POLL_MS);
  kick();
  ws.on("message", (raw: RawData, isBinary: boolean) => {
    const msg = isBinary ? null : ClientMessage.safeParse(safeJson(raw.toString()));
    if (!msg?.success) return void ws.close(1008, "invalid message");
    if (msg.data.t !== "ack") return void ws.close(1008, "this stream takes no input");
    inFlight = Math.max(0, inFlight - msg.data.n);
    kick();
  });
  ws.on("close", () => {
    closed = true;
    clearInterval(poll);
    runner?.off("piece", onPiece);
    runner?.off("ended", onPiece);
  });
  ws.on("error", () => undefined);
}
