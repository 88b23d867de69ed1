import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { AGENT_PATHS, JoinResponseSchema, parseJoinToken, type HostFacts } from "@berth/protocol";
import type { LinkCredential } from "../state/index.ts";
import { pinnedConnection } from "./pinned-tls.ts";
import { AgentError } from "../errors.ts";

export class JoinError extends AgentError {
  override name = "JoinError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "FAILED", options);
  }
}

export interface JoinOptions {
  /** The control plane's addresses (its replicas): each is tried in turn until one answers. */
  urls: string[];
  token: string;
  name: string;
  agentVersion: string;
  facts: HostFacts;
}

/** Exchanges a join token for this host's credential. Throws JoinError with the server's reason. */
export async function joinControlPlane(opts: JoinOptions): Promise<LinkCredential> {
  const { fingerprint } = parseJoinToken(opts.token);
  const bases = opts.urls.map((u) => new URL(u));
  if (fingerprint && bases.some((b) => b.protocol !== "https:")) {
    throw new JoinError("this join token pins a TLS certificate; the control plane URL must be https://");
  }
  const payload = JSON.stringify({ token: opts.token, name: opts.name, agentVersion: opts.agentVersion, facts: opts.facts });
  const unreachable: string[] = [];
  for (const base of bases) {
    let answer: { status: number; text: string };
    try {
      answer = await postJson(new URL(AGENT_PATHS.join, base), payload, fingerprint);
    } catch (e) {
      // Another replica may answer: a refusal below is final, an unreachable address is not.
      unreachable.push(`${base.origin}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const joined = parseJoinAnswer(answer);
    const urls = [base.origin, ...bases.map((b) => b.origin).filter((o) => o !== base.origin)];
    return {
      url: base.origin,
      ...(urls.length > 1 ? { urls } : {}),
      hostId: joined.hostId,
      name: joined.name,
      credential: joined.credential,
      fingerprint,
    };
  }
  throw new JoinError(`cannot reach the control plane at ${unreachable.join("; ")}`);
}

function parseJoinAnswer({ status, text }: { status: number; text: string }) {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new JoinError(`control plane answered ${status} with a non-JSON body`);
  }
  if (status !== 200) {
    const msg = body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : `HTTP ${status}`;
    throw new JoinError(`join refused: ${msg}`);
  }
  return JoinResponseSchema.parse(body);
}

/** POST with node's http(s) client, so that a pinned certificate is checked before any byte is sent. */
function postJson(url: URL, body: string, fingerprint: string | null): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const options = {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      timeout: 30_000,
      // No agent: with one, node would open its own TLS connection and skip ours.
      ...(fingerprint ? { createConnection: pinnedConnection(fingerprint) } : {}),
    };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        if (text.length > 1024 * 1024) req.destroy(new Error("response too large"));
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}
