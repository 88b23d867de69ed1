// A control plane in a process of its own, as it runs in production (no web UI). The benches
// measure it from the outside (its CPU, its answers); the failover tests run two of them on one
// database and kill one.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Agent } from "undici";
import { ensureSelfSignedIdentity } from "../../../apps/web/src/server/tls.ts";
import { repoRoot } from "../../../scripts/paths.ts";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { waitFor } from "./wait.ts";

export interface ControlPlaneProcess {
  url: string;
  proc: ChildProcess;
  databaseUrl: string;
  /** The certificate a client trusts it by, when it serves HTTPS (off loopback). */
  caFile: string | null;
  /** The one-time setup link the server printed (the first process on a database prints one). */
  setupLink: string;
  /** The unix socket of its fleet Docker API. */
  dockerSocket: string;
  /** The last lines it printed, for a failing test's message. */
  output(): string;
  /** SIGKILL, as a crash or a lost machine would end it; the database stays. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlaneProcessOptions {
  /** A database shared with other replicas; a fresh one (dropped at stop) when absent. */
  database?: TestDatabase;
  /** The address to listen on (a lab's gateway: HTTPS with a self-signed certificate). */
  host?: string;
  /** BERTH_DATA_DIR, shared by replicas on one machine (their TLS identity). */
  dataDir?: string;
  /** Whether to wait for the setup link (only the first process on a database prints one). */
  setupLink?: boolean;
  env?: Record<string, string>;
}

export async function startControlPlaneProcess(opts: ControlPlaneProcessOptions = {}): Promise<ControlPlaneProcess> {
  const database = opts.database ?? (await createTestDatabase());
  const port = await freeLoopbackPort();
  const host = opts.host ?? "127.0.0.1";
  const url = host === "127.0.0.1" ? `http://127.0.0.1:${port}` : `https://${host}:${port}`;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "berth-cp-"));
  // Off loopback it serves HTTPS with the data directory's self-signed identity: made here first,
  // so the caller (and replicas sharing the directory) trust one certificate.
  const caFile = host === "127.0.0.1" ? null : join(dataDir, "tls/cert.pem");
  if (caFile) await ensureSelfSignedIdentity(dataDir, [host]);
  const dispatcher = caFile ? new Agent({ connect: { ca: readFileSync(caFile) } }) : undefined;
  const dockerSocket = join(dataDir, `docker-${port}.sock`);
  const proc = spawn(
    process.execPath,
    [
      ...(process.env.BERTH_CP_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BERTH_CP_CPU_PROF}`] : []),
      "--import",
      "tsx",
      join(repoRoot, "apps/web/server.ts"),
    ],
    {
      cwd: join(repoRoot, "apps/web"),
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        NODE_ENV: "production",
        HOST: host,
        PORT: String(port),
        DATABASE_URL: database.url,
        BERTH_DATA_DIR: dataDir,
        BETTER_AUTH_SECRET: "bench-secret-bench-secret-bench-secret-00",
        BERTH_WEB_UI: "0",
        // Replicas share the data directory: each its own Docker API socket, on a free port.
        BERTH_DOCKER_PORT: "0",
        BERTH_DOCKER_SOCKET: dockerSocket,
        LOG_LEVEL: "error",
        ...opts.env,
      },
    },
  );
  let setupLink = "";
  const lines: string[] = [];
  // Every line is read so the server never blocks on a full pipe; the last 200 are kept.
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on("line", (l) => {
      setupLink = /^berth setup link .*: (\S+)$/.exec(l)?.[1] ?? setupLink;
      lines.push(l);
      if (lines.length > 200) lines.shift();
    });
  }
  const end = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill(signal);
      await gone;
    }
  };
  const stop = async () => {
    await end("SIGTERM");
    if (!opts.database) await database.drop();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      "control plane",
      async () => {
        if (proc.exitCode !== null) throw new Error(`the control plane exited (${proc.exitCode}): ${lines.slice(-20).join("\n")}`);
        return (await fetch(`${url}/healthz`, dispatcher ? ({ dispatcher } as RequestInit) : {}).catch(() => null))?.ok ?? false;
      },
      60_000,
      200,
    );
    if (opts.setupLink !== false) await waitFor("setup link", () => setupLink !== "", 10_000);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    await dispatcher?.close();
  }
  return {
    url,
    proc,
    databaseUrl: database.url,
    caFile,
    setupLink,
    dockerSocket,
    output: () => lines.join("\n"),
    kill: () => end("SIGKILL"),
    stop,
  };
}
