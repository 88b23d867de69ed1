import type { IncomingMessage, ServerResponse } from "node:http";
import type { Db } from "@berth/db";
import { handleJoin, type Logger } from "@berth/core";
import { BodyTooLargeError, clientIp, readBody, sendJson } from "./http-util.ts";

/** POST /agent/join: a join token in, a host credential out. */
export async function agentJoinRoute(
  req: IncomingMessage,
  res: ServerResponse,
  db: Db,
  fingerprint: string | null,
  log: Logger,
): Promise<void> {
  if (req.method !== "POST") return sendJson(res, 405, { error: "use POST" });
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req, 256 * 1024));
  } catch (e) {
    return sendJson(res, e instanceof BodyTooLargeError ? 413 : 400, {
      error: e instanceof BodyTooLargeError ? "join request too large" : "join request is not valid JSON",
    });
  }
  const ip = clientIp(req);
  const outcome = await handleJoin(db, body, ip, fingerprint);
  if (outcome.status !== 200) log.warn({ ip, error: outcome.body }, "join refused");
  sendJson(res, outcome.status, outcome.body);
}
