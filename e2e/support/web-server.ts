// The full control plane (Next.js included) as a child process, as `npm start` runs it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/paths.ts";
import { freeLoopbackPort } from "../../scripts/postgres.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { waitFor } from "@berth/test-support/wait";

export interface WebServer {
  url: string;
  database: TestDatabase;
  output(): string;
  /** The one-time setup link the server printed (it prints one while nobody owns the install). */
  setupLink(): Promise<string>;
  stop(): Promise<void>;
}

/** `host` is where it listens and how it is reached: loopback, or a lab address for agents in the lab. */
export async function startWebServer(env: Record<string, string> = {}, host = "127.0.0.1"): Promise<WebServer> {
  const database = await createTestDatabase();
  const port = await freeLoopbackPort();
  const dataDir = mkdtempSync(join(tmpdir(), "berth-web-"));
  const url = `http://${host}:${port}`;
  let out = "";
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "apps/web/server.ts")], {
    cwd: join(repoRoot, "apps/web"),
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: host,
      PUBLIC_URL: url,
      DATABASE_URL: database.url,
      BETTER_AUTH_SECRET: "browser-test-secret-browser-test-secret",
      BERTH_DATA_DIR: dataDir,
      BERTH_DOCKER_PORT: "0",
      ...env,
    },
  });
  proc.stdout!.on("data", (d) => (out = (out + d).slice(-50_000)));
  proc.stderr!.on("data", (d) => (out = (out + d).slice(-50_000)));
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      "web server healthy",
      async () => {
        if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${out}`);
        return (await fetch(`${url}/healthz`)).ok;
      },
      60_000,
      250,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const setupLink = () =>
    waitFor("the setup link in the server's output", async () => /^berth setup link .*: (\S+)$/m.exec(out)?.[1] ?? null, 10_000, 50);
  return { url, database, output: () => out, setupLink, stop };
}
