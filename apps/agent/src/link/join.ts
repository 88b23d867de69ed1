import { AGENT_PATHS, JoinResponseSchema, parseJoinToken, type HostFacts } from "@berth/protocol";
import type { LinkCredential } from "../state/credential-store.ts";

export class JoinError extends Error {
  override name = "JoinError";
}

export interface JoinOptions {
  url: string;
  token: string;
  name: string;
  agentVersion: string;
  facts: HostFacts;
}

/** Exchanges a join token for this host's credential. Throws JoinError with the server's reason. */
export async function joinControlPlane(opts: JoinOptions): Promise<LinkCredential> {
  const { fingerprint } = parseJoinToken(opts.token);
  const base = new URL(opts.url);
  if (fingerprint && base.protocol !== "https:") {
    throw new JoinError("this join token pins a TLS certificate; the control plane URL must be https://");
  }
  if (fingerprint) {
    // Pinning needs a TLS connection whose certificate we check ourselves; not built yet.
    throw new JoinError("TLS-pinned join tokens are not supported by this agent version yet");
  }
  const res = await fetch(new URL(AGENT_PATHS.join, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: opts.token, name: opts.name, agentVersion: opts.agentVersion, facts: opts.facts }),
    signal: AbortSignal.timeout(30_000),
  }).catch((e: unknown) => {
    throw new JoinError(`cannot reach the control plane at ${base.origin}: ${e instanceof Error ? e.message : String(e)}`);
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new JoinError(`control plane answered ${res.status} with a non-JSON body`);
  }
  if (!res.ok) {
    const msg = body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : `HTTP ${res.status}`;
    throw new JoinError(`join refused: ${msg}`);
  }
  const joined = JoinResponseSchema.parse(body);
  return { url: base.origin, hostId: joined.hostId, name: joined.name, credential: joined.credential, fingerprint };
}
