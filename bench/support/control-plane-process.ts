// A control plane in a process of its own, as it runs in production (no web UI), over a fresh
// database: the benches measure it from the outside (its CPU, its answers).
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "../../scripts/paths.ts";
import { freeLoopbackPort } from "../../scripts/postgres.ts";
import { createTestDatabase } from "@berth/test-support/db";
import { waitFor } from "@berth/test-support/wait";

export interface ControlPlaneProcess {
  url: string;
  proc: ChildProcess;
  databaseUrl: string;
  /** The one-time setup link the server printed: the owner signs up through it. */
  setupLink: string;
  stop(): Promise<void>;
}

export async function startControlPlaneProcess(): Promise<ControlPlaneProcess> {
  const database = await createTestDatabase();
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "apps/web/server.ts")], {
    cwd: join(repoRoot, "apps/web"),
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      DATABASE_URL: database.url,
      BETTER_AUTH_SECRET: "bench-secret-bench-secret-bench-secret-00",
      BERTH_WEB_UI: "0",
      LOG_LEVEL: "error",
    },
  });
  let setupLink = "";
  // Only the setup line is wanted; the rest of stdout is drained so the server never blocks on it.
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    setupLink = /^berth setup link .*: (\S+)$/.exec(l)?.[1] ?? setupLink;
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await gone;
    }
    await database.drop();
  };
  try {
    await waitFor("control plane", async () => (await fetch(`${url}/healthz`)).ok, 60_000, 200);
    await waitFor("setup link", () => setupLink !== "", 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, proc, databaseUrl: database.url, setupLink, stop };
}
