import type { Db } from "@berth/db";
import { JoinRequestSchema, type JoinResponse } from "@berth/protocol";
import { recordAudit } from "./audit.ts";
import { JoinTokenError } from "./errors.ts";
import { redeemJoinToken } from "./join-tokens.ts";

export type JoinOutcome = { status: 200; body: JoinResponse } | { status: 400 | 401; body: { error: string } };

/**
 * The body of `POST /agent/join`: validate, redeem, audit. Transport-free so that the HTTP
 * route only reads the body and writes the outcome.
 */
export async function handleJoin(db: Db, body: unknown, remoteAddr: string | null, fingerprint: string | null): Promise<JoinOutcome> {
  const parsed = JoinRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      status: 400,
      body: { error: `invalid join request${issue?.path.length ? ` at ${issue.path.join(".")}` : ""}: ${issue?.message}` },
    };
  }
  try {
    const joined = await redeemJoinToken(db, { ...parsed.data, remoteAddr, fingerprint });
    await recordAudit(db, {
      actorType: "agent",
      actorId: joined.hostId,
      action: "host.join",
      target: `host:${joined.hostId}`,
      result: "ok",
      sourceIp: remoteAddr,
      channel: "agent",
      detail: { name: joined.name },
    });
    return { status: 200, body: joined };
  } catch (e) {
    if (e instanceof JoinTokenError) {
      await recordAudit(db, {
        actorType: "agent",
        action: "host.join",
        result: "error",
        sourceIp: remoteAddr,
        channel: "agent",
        detail: { reason: e.reason },
      });
      return { status: 401, body: { error: e.message } };
    }
    throw e;
  }
}
