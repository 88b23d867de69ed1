import type { IncomingMessage, ServerResponse } from "node:http";
import type { Db } from "@berth/db";
import {
  isDomainError,
  type Logger,
  pushMoves,
  readPush,
  recordAudit,
  STACK_WEBHOOK_PREFIX,
  type StackGitPoller,
  type StackStore,
  verifyPush,
} from "@berth/core";
import { BodyTooLargeError, clientIp, readRawBody, sendJson } from "./http-util.ts";

/** GitHub sends push payloads of up to 25 MB; the ref is near the start, but the signature covers all of it. */
const MAX_PUSH_BYTES = 25 * 1024 * 1024;

/**
 * POST /api/hooks/stacks/<id>: a git host's push. It carries no session or token; the stack's
 * secret signs it (verifyPush), and a delivery that fails the check gets 401 and changes nothing.
 * A push to the stack's ref starts a read of the repository and is answered at once (202): git
 * hosts wait only seconds for an answer, and a deploy can take longer.
 */
export async function stackWebhookRoute(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { db: Db; stacks: StackStore; poller: StackGitPoller; logger: Logger },
): Promise<void> {
  if (req.method !== "POST") return sendJson(res, 405, { error: "use POST" });
  const id = decodeURIComponent((req.url ?? "").split("?")[0]!.slice(STACK_WEBHOOK_PREFIX.length));
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return sendJson(res, 404, { error: "no such stack" });
  let body: Buffer;
  try {
    body = await readRawBody(req, MAX_PUSH_BYTES);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return sendJson(res, 413, { error: `a push payload is at most ${MAX_PUSH_BYTES} bytes` });
    throw e;
  }
  let hook: Awaited<ReturnType<StackStore["webhookSecret"]>>;
  try {
    hook = await deps.stacks.webhookSecret(id);
  } catch (e) {
    if (isDomainError(e) && (e.code === "NOT_FOUND" || e.code === "INVALID")) return sendJson(res, 404, { error: "no git stack here" });
    throw e;
  }
  const audit = (result: "ok" | "error", detail: Record<string, string | null>) =>
    recordAudit(deps.db, {
      actorType: "system",
      actorId: null,
      action: "stacks.webhook",
      target: hook.stackId,
      result,
      detail: { teamId: hook.teamId, stack: hook.name, ...detail },
      sourceIp: clientIp(req),
      channel: "rest",
    });
  const check = verifyPush(req.headers, body, hook.secret);
  if (!check.ok) {
    await audit("error", { reason: check.reason });
    return sendJson(res, 401, { error: `refused: ${check.reason}` });
  }
  const push = readPush(req.headers, body);
  if (!push) {
    await audit("error", { provider: check.provider, reason: "the payload is not a JSON push" });
    return sendJson(res, 400, { error: "the payload is not JSON with a ref" });
  }
  if (push.kind === "ping") return sendJson(res, 200, { ok: true, stack: hook.name });
  if (push.kind !== "push" || !pushMoves(hook.ref, push.ref)) {
    return sendJson(res, 202, { accepted: false, reason: `stack ${hook.name} follows ${hook.ref}; this delivery does not move it` });
  }
  await audit("ok", { provider: check.provider, ref: push.ref, after: push.after });
  void deps.poller.syncNow(hook.stackId).catch((err: unknown) => deps.logger.warn({ err, stackId: hook.stackId }, "webhook read failed"));
  sendJson(res, 202, { accepted: true, stack: hook.name });
}
