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
import { inviteOf, signUp, trpcClient } from "@berth/test-support/control-plane";
import { waitFor } from "@berth/test-support/wait";

// Under the repo (not /tmp) so it is as reachable for the postgres user as .berth is.
const dataDir = mkdtempSync(join(repoRoot, ".berth-start-test-"));
chmodSync(dataDir, 0o711);
let proc: ChildProcess | null = null;
const pgCtl = (...args: string[]) => spawnSync(join(binDir(), "pg_ctl"), args, { ...postgresUser(), cwd: "/", stdio: "ignore" });

after(() => {
  if (proc?.pid && proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid, "SIGKILL");
  // A failed run may leave the cluster up; stop it before removing its files.
  pgCtl("stop", "-m", "immediate", "-D", join(dataDir, "postgres/data"));
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * `npm start` exactly as a user runs it, in a process group of its own, so that a test can send
 * SIGINT to the whole group as a terminal's Ctrl-C does.
 */
function start(port: number): { proc: ChildProcess; output: () => string; ready: Promise<void>; exited: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  delete env.BETTER_AUTH_SECRET;
  const p = spawn("npm", ["start"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
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

/** Ctrl-C in a terminal: SIGINT to every process of the foreground group at once. */
const ctrlC = (p: ChildProcess) => process.kill(-p.pid!, "SIGINT");

test("npm start: claim with the setup link, see the local host online within 10 s, stop with Ctrl-C, keep data", {
  timeout: 240_000,
}, async () => {
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const first = start(port);
  await Promise.race([first.ready, first.exited.then((c) => assert.fail(`npm start exited ${c}: ${first.output()}`))]);
  const link = /open this one-time setup link and create the owner account:\s+(\S+)/.exec(first.output())?.[1];
  assert.ok(link, `npm start printed a setup link:\n${first.output()}`);
  assert.equal(new URL(link).origin, url);

  // Without the link, nobody can make an account: sign-up is closed.
  const stranger = await fetch(`${url}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email: "stranger@example.com", password: "a-good-password", name: "s" }),
  });
  assert.equal(stranger.status, 403);
  assert.match(await stranger.text(), /sign-up is by invitation only/);

  const signedUpAt = Date.now();
  const user = await signUp(url, "new-user@example.com", "a-good-password", inviteOf(link));
  await assert.rejects(signUp(url, "second@example.com", "a-good-password", inviteOf(link)), /already used/, "the setup link works once");
  const host = await waitFor(
    "local host online",
    async () => {
      const h = await localHost(user.cookie, url);
      return h?.status === "online" ? h : null;
    },
    10_000,
    200,
  );
  assert.ok(Date.now() - signedUpAt <= 10_000);
  assert.equal((await user.trpc.auth.me.query())?.memberships[0]?.role, "owner");

  ctrlC(first.proc);
  await first.exited; // npm itself dies of the SIGINT; what it started must stop all the same
  await stoppedEverything(first.proc);
  assert.equal(
    await fetch(`${url}/healthz`).then(
      () => "up",
      () => "down",
    ),
    "down",
  );

  const second = start(port);
  await Promise.race([second.ready, second.exited.then((c) => assert.fail(`second npm start exited ${c}: ${second.output()}`))]);
  assert.match(second.output(), /sign in with your account/);
  assert.doesNotMatch(second.output(), /setup link/, "an owned install prints no setup link");
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email: "new-user@example.com", password: "a-good-password" }),
  });
  assert.equal(res.status, 200);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const again = await waitFor(
    "local host online again",
    async () => {
      const h = await localHost(cookie, url);
      return h?.status === "online" ? h : null;
    },
    20_000,
    200,
  );
  assert.equal(again.id, host.id, "the same host, from the kept agent credential");
  ctrlC(second.proc);
  await second.exited;
  await stoppedEverything(second.proc);
});

/** Every process of npm start's group is gone, and so is the embedded Postgres (a session of its own). */
async function stoppedEverything(p: ChildProcess): Promise<void> {
  const groupAlive = () => {
    try {
      process.kill(-p.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor("npm start's processes to exit", async () => !groupAlive(), 30_000, 200);
  assert.notEqual(pgCtl("status", "-D", join(dataDir, "postgres/data")).status, 0, "the embedded Postgres was stopped");
}
