// `npm start`: database, migrations, builds, then the control plane and a local agent that joins it.
// Ctrl-C stops all of it; the data stays in .berth/ for the next run.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createDb } from "@berth/db";
import { createJoinToken, ensureDefaultTeam } from "@berth/core";
import { openMigratedDatabase } from "./database.ts";
import { agentBundlePath, buildAgentBundle, buildWeb } from "./build.ts";
import { dataDir, repoRoot } from "./paths.ts";
import { authSecret } from "./secrets.ts";
import { seedBusybox, startLocalRegistry, type LocalRegistry } from "./local-registry.ts";
import { hasExited, stopChild } from "./child-process.ts";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { loadEnv, prepareTls } from "../apps/web/src/server/env.ts";
import { loadTlsIdentity } from "../apps/web/src/server/tls.ts";

const agentStateDir = join(dataDir, "agent");
const children: ChildProcess[] = [];

const db = await openMigratedDatabase();
// The server's environment, read here the same way the server reads it: off loopback it serves
// HTTPS (its own certificate unless one is given), and the local agent then pins that certificate.
const env = loadEnv({
  ...process.env,
  NODE_ENV: "production",
  DATABASE_URL: db.url,
  BETTER_AUTH_SECRET: authSecret(),
  BERTH_DATA_DIR: dataDir,
});
await prepareTls(env);
const tls = env.TLS_CERT_FILE && env.TLS_KEY_FILE ? loadTlsIdentity(env.TLS_CERT_FILE, env.TLS_KEY_FILE) : null;
const publicUrl = env.PUBLIC_URL;
const listenHost = env.HOST === "0.0.0.0" || env.HOST === "::" ? "127.0.0.1" : env.HOST;
/** Where this machine's agent and health check reach the server (its listen address). */
const localUrl = `${tls ? "https" : "http"}://${listenHost.includes(":") ? `[${listenHost}]` : listenHost}:${env.PORT}`;
const registry: LocalRegistry = await startLocalRegistry();
const seeded = await seedBusybox(new URL(registry.url).host);
await buildAgentBundle();
buildWeb();

const server = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "apps/web/server.ts")], {
  cwd: join(repoRoot, "apps/web"),
  stdio: ["ignore", "pipe", "inherit"],
  env: {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: db.url,
    PORT: String(env.PORT),
    HOST: env.HOST,
    PUBLIC_URL: publicUrl,
    BETTER_AUTH_SECRET: env.BETTER_AUTH_SECRET,
    BERTH_DATA_DIR: dataDir,
  },
});
children.push(server);
// The server's output passes through; its one-time setup link (while nobody owns the install) is kept for the banner.
let setupLink: string | null = null;
let pending = "";
server.stdout!.on("data", (d: Buffer) => {
  process.stdout.write(d);
  const lines = (pending + d.toString()).split("\n");
  pending = (lines.pop() ?? "").slice(-4096);
  for (const l of lines) setupLink = /^berth setup link .*: (\S+)$/.exec(l)?.[1] ?? setupLink;
});

/** The server answers its health check; over TLS, with the certificate it was given or made. */
function healthy(): Promise<boolean> {
  if (!tls)
    return fetch(`${localUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  return new Promise((resolve) => {
    const req = httpsRequest(`${localUrl}/healthz`, { rejectUnauthorized: false, timeout: 2_000 }, (res) => {
      const seen = (res.socket as TLSSocket).getPeerCertificate().fingerprint256?.replace(/:/g, "").toLowerCase();
      res.resume();
      resolve(res.statusCode === 200 && seen === tls.fingerprint);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

async function waitHealthy(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (hasExited(server)) throw new Error(`control plane exited with ${server.exitCode ?? server.signalCode}`);
    if (await healthy()) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error("control plane did not become healthy within 60 s");
}

/** The local agent: joins once with a single-use token minted straight in the database, then runs. */
async function startLocalAgent(allowRejoin = true): Promise<void> {
  const args = [agentBundlePath];
  if (existsSync(join(agentStateDir, "credential.json"))) {
    args.push("run", "--state-dir", agentStateDir);
  } else {
    const prisma = createDb(db.url, { poolSize: 1 });
    const team = await ensureDefaultTeam(prisma);
    const { token } = await createJoinToken(prisma, {
      teamId: team.id,
      description: "npm start: local agent",
      expiresInSeconds: 600,
      maxUses: 1,
      fingerprint: tls?.fingerprint ?? null,
    });
    await prisma.$disconnect();
    args.push("join", "--url", localUrl, "--token", token, "--state-dir", agentStateDir, "--name", "local");
  }
  // The local registry mirrors Docker Hub for this agent, so `busybox` pulls with no internet.
  args.push("--registry-mirror", registry.url);
  const agent = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, BERTH_STATE_DIR: agentStateDir } });
  children.push(agent);
  agent.on("exit", (code) => {
    if (code === 78 && allowRejoin && !stopping) {
      // The stored credential was refused (e.g. the database was reset): join afresh, once.
      console.log("[berth] local agent credential refused; re-joining");
      rmSync(join(agentStateDir, "credential.json"), { force: true });
      void startLocalAgent(false);
    }
  });
}

let stopping = false;
/**
 * Stops every part, Postgres last, whichever process got the signal first: Ctrl-C reaches the
 * whole foreground process group (the server, the agent and the registry die of it too), and a
 * wrapper such as tsx may pass it on again, so a second signal must not cut the clean-up short.
 */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((c) => stopChild(c)));
  await registry.stop();
  await db.stop();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
process.on("SIGHUP", () => void stop(0));
server.on("exit", (code) => {
  if (!stopping) {
    console.error(`[berth] control plane exited (${code}); stopping`);
    void stop(1);
  }
});

try {
  await waitHealthy();
  await startLocalAgent();
} catch (e) {
  console.error(`[berth] ${(e as Error).message}`);
  await stop(1);
}

const users = await (async () => {
  const prisma = createDb(db.url, { poolSize: 1 });
  try {
    return await prisma.user.count();
  } finally {
    await prisma.$disconnect();
  }
})();
// The server prints its link right after it listens; healthy means listening, so it is here by now or very soon.
for (let i = 0; i < 50 && users === 0 && !setupLink; i++) await new Promise((r) => setTimeout(r, 100));
const claim =
  users === 0 && setupLink
    ? `Claim it: open this one-time setup link and create the owner account:\n    ${setupLink}`
    : "Open it and sign in with your account.";
console.log(`
  Berth is running at ${publicUrl}
  ${claim}
  The local host joins as "local". Press Ctrl-C to stop; data is kept in ${dataDir}.
  Local registry: ${registry.url} (busybox:latest is there, ${seeded.manifestDigest.slice(0, 19)}…, mirrored as Docker Hub's).
`);
