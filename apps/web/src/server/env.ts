import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ensureSelfSignedIdentity, isLoopbackHost } from "./tls.ts";

const repoRoot = join(fileURLToPath(new URL(".", import.meta.url)), "../../../..");

/** The control plane's whole configuration, checked once at start-up. */
const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  /** Listen address. Loopback by default; 0.0.0.0 to serve other hosts. */
  HOST: z.string().default("127.0.0.1"),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgresql:// URL"),
  /** The URL agents and browsers use; defaults to http://HOST:PORT (loopback for 0.0.0.0). */
  PUBLIC_URL: z.url().optional(),
  BETTER_AUTH_SECRET: z.string().min(32, "BETTER_AUTH_SECRET must be at least 32 characters"),
  BERTH_AGENT_BUNDLE: z.string().optional(),
  /** Key material for credentials stored encrypted (registry passwords); defaults to BETTER_AUTH_SECRET. */
  BERTH_SECRET_KEY: z.string().min(32, "BERTH_SECRET_KEY must be at least 32 characters").optional(),
  /** Serve HTTPS with this certificate and key (PEM). Join tokens then pin its fingerprint. */
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  BERTH_OFFLINE_AFTER_MS: z.coerce.number().int().min(1000).default(5_000),
  BERTH_MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** The first webhook retry's delay (it doubles with each attempt, 8 attempts). */
  BERTH_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /** How often the git poller looks for stacks whose poll is due (each stack has its own interval, a minute at least). */
  BERTH_GIT_POLL_TICK_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** How often open streams check their caller's credentials and role again. */
  BERTH_STREAM_RECHECK_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** "0" serves only the API, the agent gateway and the install endpoints (tests, benchmarks). */
  BERTH_WEB_UI: z.enum(["0", "1"]).default("1"),
  LOG_LEVEL: z.string().default("info"),
  /** Where the control plane keeps what it makes itself (its self-signed certificate). */
  BERTH_DATA_DIR: z.string().min(1).default(join(repoRoot, ".berth")),
  /** "1" serves plain HTTP off loopback (behind a TLS-terminating proxy, or in a closed lab): no certificate is made. */
  BERTH_INSECURE_HTTP: z.enum(["0", "1"]).default("0"),
  /** "1" lets anyone create an account without an invitation (demos); such accounts join no team. */
  BERTH_OPEN_SIGNUP: z.enum(["0", "1"]).default("0"),
  /**
   * The fleet's Docker API: its TCP port on HOST (TLS with the control plane's certificate, as
   * dockerd's 2376; 0 picks a free port), and its unix socket for the machine's admins (0660).
   */
  BERTH_DOCKER_PORT: z.coerce.number().int().min(0).max(65535).default(2376),
  BERTH_DOCKER_SOCKET: z.string().min(1).optional(),
  /**
   * Where the other control-plane processes on this database reach this one (commands and streams
   * for its agents are forwarded here). Defaults to HOST:PORT (loopback for 0.0.0.0): set it when
   * replicas run on several machines.
   */
  BERTH_INTERNAL_URL: z.url().optional(),
});

export type Env = z.infer<typeof EnvSchema> & {
  PUBLIC_URL: string;
  BERTH_INTERNAL_URL: string;
  /** The certificate is the control plane's own, made on first start (see tls.ts): serving off loopback with none given. */
  TLS_SELF_SIGNED: boolean;
};

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`invalid control-plane environment:\n${lines}`);
  }
  const e = parsed.data;
  if (Boolean(e.TLS_CERT_FILE) !== Boolean(e.TLS_KEY_FILE))
    throw new Error("invalid control-plane environment: set both TLS_CERT_FILE and TLS_KEY_FILE, or neither");
  // Off loopback, HTTPS by default: with no certificate given, the control plane makes its own
  // (as a Swarm manager does) and join tokens pin it. Plain HTTP there takes an explicit flag.
  const selfSigned = !e.TLS_CERT_FILE && !isLoopbackHost(e.HOST) && e.BERTH_INSECURE_HTTP !== "1";
  const tls = selfSigned
    ? { TLS_CERT_FILE: join(e.BERTH_DATA_DIR, "tls/cert.pem"), TLS_KEY_FILE: join(e.BERTH_DATA_DIR, "tls/key.pem") }
    : {};
  const host = e.HOST === "0.0.0.0" || e.HOST === "::" ? "127.0.0.1" : e.HOST;
  const scheme = e.TLS_CERT_FILE || selfSigned ? "https" : "http";
  const publicUrl = (e.PUBLIC_URL ?? `${scheme}://${host}:${e.PORT}`).replace(/\/+$/, "");
  if (scheme === "https" && publicUrl.startsWith("http:")) {
    const why = selfSigned ? " (off loopback it does by default; BERTH_INSECURE_HTTP=1 serves plain HTTP)" : "";
    throw new Error(`invalid control-plane environment: PUBLIC_URL is ${publicUrl}, but the control plane serves HTTPS${why}`);
  }
  // Listening on every address, other replicas reach this one at its own (a container's on its network).
  const internalHost = e.HOST === "0.0.0.0" || e.HOST === "::" ? (ownAddress() ?? "127.0.0.1") : e.HOST;
  const internalUrl = (
    e.BERTH_INTERNAL_URL ?? `${scheme}://${internalHost.includes(":") ? `[${internalHost}]` : internalHost}:${e.PORT}`
  ).replace(/\/+$/, "");
  return { ...e, ...tls, PUBLIC_URL: publicUrl, BERTH_INTERNAL_URL: internalUrl, TLS_SELF_SIGNED: selfSigned };
}

/** This machine's first address that is not loopback (IPv4 first): where other machines reach it. */
function ownAddress(): string | null {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const usable = all.filter((a) => !a.internal);
  return (usable.find((a) => a.family === "IPv4") ?? usable[0])?.address ?? null;
}

/** Makes the control plane's own certificate if it serves with one and it does not exist yet. */
export async function prepareTls(env: Env): Promise<void> {
  if (env.TLS_SELF_SIGNED) await ensureSelfSignedIdentity(env.BERTH_DATA_DIR, [env.HOST, new URL(env.PUBLIC_URL).hostname]);
}

/** Plain HTTP off loopback was asked for: credentials and tokens cross the network in clear. */
export function insecureWarning(env: Env): string | null {
  if (env.TLS_CERT_FILE || isLoopbackHost(env.HOST)) return null;
  return (
    `serving plain HTTP on ${env.HOST} (BERTH_INSECURE_HTTP=1): ` +
    "passwords, API tokens and agent credentials cross the network unencrypted; " +
    "put a TLS-terminating proxy in front or unset the flag"
  );
}
