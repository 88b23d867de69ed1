// `npm start` as a new user meets it: fresh data dir, embedded Postgres, control plane and local
// agent; sign up and the local host is online within 10 s; Ctrl-C stops it all; a second run
// keeps the data.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../scripts/paths.ts";
import { binDir, freeLoopbackPort, postgresUser } from "../../scripts/postgres.ts";
import { signUp, trpcClient } from "../support/control-plane.ts";
import { waitFor } from "../support/wait.ts";

// Under the repo (not /tmp) so it is as reachable for the postgres user as .berth is.
const dataDir = mkdtempSync(join(repoRoot, ".berth-start-test-"));
chmodSync(dataDir, 0o711);
let proc: ChildProcess | null = null;
const pgCtl = (...args: string[]) => spawnSync(join(binDir(), "pg_ctl"), args, { ...postgresUser(), cwd: "/", stdio: "ignore" });

after(() => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  // A failed run may leave the cluster up; stop it before removing its files.
  pgCtl("stop", "-m", "immediate", "-D", join(dataDir, "postgres/data"));
  rmSync(dataDir, { recursive: true, force: true });
});

function start(port: number): { proc: ChildProcess; output: () => string; ready: Promise<void>; exited: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  delete env.BETTER_AUTH_SECRET;
  const p = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "scripts/start.ts")], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  proc = p;
  let out = "";
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const collect = (d: Buffer) => {
    out += d;
    if (out.includes("Berth is running at")) onReady();
  };
  p.stdout!.on("data", collect);
  p.stderr!.on("data", collect);
  const exited = new Promise<number | null>((r) => p.on("exit", (c) => r(c)));
  return { proc: p, output: () => out, ready, exited };
}

async function localHost(cookie: string, url: string) {
  const hosts = await trpcClient(url, cookie).hosts.list.query();
  return hosts.find((h) => h.name === "local");
}

test("npm start: sign up, see the local host online within 10 s, stop with Ctrl-C, keep data", { timeout: 180_000 }, async () => {
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const first = start(port);
  await Promise.race([first.ready, first.exited.then((c) => assert.fail(`npm start exited ${c}: ${first.output()}`))]);
  assert.match(first.output(), /create the first account: it becomes the owner/);

  const signedUpAt = Date.now();
  const user = await signUp(url, "new-user@example.com", "a-good-password");
  const host = await waitFor("local host online", async () => {
    const h = await localHost(user.cookie, url);
    return h?.status === "online" ? h : null;
  }, 10_000, 200);
  assert.ok(Date.now() - signedUpAt <= 10_000);
  assert.equal((await user.trpc.auth.me.query())?.memberships[0]?.role, "owner");

  first.proc.kill("SIGINT");
  assert.equal(await first.exited, 0, first.output());
  assert.equal((await fetch(`${url}/healthz`).then(() => "up", () => "down")), "down");
  assert.notEqual(pgCtl("status", "-D", join(dataDir, "postgres/data")).status, 0, "the embedded Postgres was stopped");

  const second = start(port);
  await Promise.race([second.ready, second.exited.then((c) => assert.fail(`second npm start exited ${c}: ${second.output()}`))]);
  assert.match(second.output(), /sign in with your account/);
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email: "new-user@example.com", password: "a-good-password" }),
  });
  assert.equal(res.status, 200);
  const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const again = await waitFor("local host online again", async () => {
    const h = await localHost(cookie, url);
    return h?.status === "online" ? h : null;
  }, 20_000, 200);
  assert.equal(again.id, host.id, "the same host, from the kept agent credential");
  second.proc.kill("SIGINT");
  assert.equal(await second.exited, 0);
});
