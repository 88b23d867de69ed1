import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/*
 * The push webhooks of GitHub, Gitea (and Forgejo) and GitLab, as a stack's webhook receives them.
 * GitHub and Gitea sign the body with HMAC-SHA256 of the shared secret; GitLab sends the secret
 * itself as a token. Either way the comparison takes the same time however much of it matches.
 */

export type PushProvider = "github" | "gitea" | "gitlab";

export type PushCheck = { ok: true; provider: PushProvider } | { ok: false; reason: string };

/** Checks a delivery's signature (or token) against the stack's secret. Header names are lower-case, as Node gives them. */
export function verifyPush(headers: Record<string, string | string[] | undefined>, body: Buffer, secret: string): PushCheck {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const hmac = () => createHmac("sha256", secret).update(body).digest();
  const github = header("x-hub-signature-256");
  if (github !== undefined) {
    const m = /^sha256=([0-9a-f]{64})$/i.exec(github.trim());
    if (!m) return { ok: false, reason: "X-Hub-Signature-256 is not sha256=<64 hex digits>" };
    return same(Buffer.from(m[1]!, "hex"), hmac())
      ? { ok: true, provider: "github" }
      : { ok: false, reason: "the signature does not match" };
  }
  const gitea = header("x-gitea-signature") ?? header("x-forgejo-signature");
  if (gitea !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(gitea.trim())) return { ok: false, reason: "X-Gitea-Signature is not 64 hex digits" };
    return same(Buffer.from(gitea.trim(), "hex"), hmac())
      ? { ok: true, provider: "gitea" }
      : { ok: false, reason: "the signature does not match" };
  }
  const gitlab = header("x-gitlab-token");
  if (gitlab !== undefined) {
    // Hash both sides: equal lengths for the comparison, and nothing learnt from the token's length.
    const digest = (s: string) => createHmac("sha256", "berth/gitlab-token").update(s).digest();
    return same(digest(gitlab), digest(secret)) ? { ok: true, provider: "gitlab" } : { ok: false, reason: "the token does not match" };
  }
  return { ok: false, reason: "no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header" };
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The part of a push payload that matters here; all three hosts send `ref` (refs/heads/<branch>) and `after`. */
const PushPayloadSchema = z.object({ ref: z.string().max(1024).optional(), after: z.string().max(64).optional() }).passthrough();

export interface PushEvent {
  /** What the delivery is: a push, a ping (GitHub's and Gitea's first call), or something else. */
  kind: "push" | "ping" | "other";
  ref: string | null;
  after: string | null;
}

/** What a delivery says, from its event header and body. A body that is not JSON is refused. */
export function readPush(headers: Record<string, string | string[] | undefined>, body: Buffer): PushEvent | null {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  const parsed = PushPayloadSchema.safeParse(json);
  if (!parsed.success) return null;
  const event = String(headers["x-github-event"] ?? headers["x-gitea-event"] ?? headers["x-gitlab-event"] ?? "push").toLowerCase();
  const kind = event === "ping" ? "ping" : event === "push" || event === "push hook" ? "push" : "other";
  return { kind, ref: parsed.data.ref ?? null, after: parsed.data.after ?? null };
}

/** Whether a push of `pushed` (refs/heads/x, refs/tags/x) moves the stack's ref (a branch or tag name, or a full ref). */
export function pushMoves(stackRef: string, pushed: string | null): boolean {
  if (pushed === null) return true; // no ref said: read the repository and see
  if (stackRef === pushed) return true;
  return (
    pushed === `refs/heads/${stackRef}` || pushed === `refs/tags/${stackRef}` || (stackRef === "HEAD" && pushed.startsWith("refs/heads/"))
  );
}

/** Where a stack's push webhook is served (unauthenticated but signed: see verifyPush). */
export const STACK_WEBHOOK_PREFIX = "/api/hooks/stacks/";
export const stackWebhookPath = (stackId: string) => `${STACK_WEBHOOK_PREFIX}${encodeURIComponent(stackId)}`;
