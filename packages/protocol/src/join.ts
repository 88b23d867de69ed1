import { z } from "zod";
import { HostFactsSchema } from "./facts.ts";

/**
 * Join tokens look like Swarm's: `BERTH-1-<fingerprint|insecure>-<secret>`.
 * The fingerprint is the sha256 of the control plane's TLS certificate (hex, 64 chars),
 * which the agent pins; `insecure` means plain HTTP.
 */
export const JOIN_TOKEN_PREFIX = "BERTH-1-";
const SECRET_RE = /^[a-z0-9]{32,128}$/;
const FINGERPRINT_RE = /^[a-f0-9]{64}$/;

export interface ParsedJoinToken {
  fingerprint: string | null;
  secret: string;
}

export class JoinTokenFormatError extends Error {
  override name = "JoinTokenFormatError";
}

export function parseJoinToken(token: string): ParsedJoinToken {
  const t = token.trim();
  if (!t.startsWith(JOIN_TOKEN_PREFIX)) {
    throw new JoinTokenFormatError("join token must start with BERTH-1-");
  }
  const rest = t.slice(JOIN_TOKEN_PREFIX.length);
  const dash = rest.indexOf("-");
  if (dash < 0) throw new JoinTokenFormatError("join token has no secret part");
  const pin = rest.slice(0, dash);
  const secret = rest.slice(dash + 1);
  if (pin !== "insecure" && !FINGERPRINT_RE.test(pin)) {
    throw new JoinTokenFormatError("join token fingerprint must be 'insecure' or 64 hex characters");
  }
  if (!SECRET_RE.test(secret)) throw new JoinTokenFormatError("join token secret is malformed");
  return { fingerprint: pin === "insecure" ? null : pin, secret };
}

export function formatJoinToken(fingerprint: string | null, secret: string): string {
  return `${JOIN_TOKEN_PREFIX}${fingerprint ?? "insecure"}-${secret}`;
}

export const JoinRequestSchema = z.object({
  token: z.string().min(1).max(512),
  /** Proposed host name; the control plane makes it unique within the team. */
  name: z
    .string()
    .trim()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "host name may contain letters, digits, '.', '_' and '-'"),
  agentVersion: z.string().min(1).max(64),
  facts: HostFactsSchema,
});
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

export const JoinResponseSchema = z.object({
  hostId: z.string(),
  name: z.string(),
  /** `<credentialId>.<secret>`; the agent keeps it 0600 and presents it as a Bearer token. */
  credential: z.string(),
});
export type JoinResponse = z.infer<typeof JoinResponseSchema>;

/** Paths the agent uses on the control plane. */
export const AGENT_PATHS = {
  join: "/agent/join",
  link: "/agent/link",
  bundle: "/agent/berth-agent.js",
  install: "/install.sh",
} as const;
