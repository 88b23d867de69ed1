// The real agent bundle as a process against an in-process control plane.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createJoinToken, ensureDefaultTeam, revokeHostCredentials } from "@berth/core";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";
import { waitFor } from "@berth/test-support/wait";
import { dockerClis, negotiatedVersion } from "@berth/test-support/docker-cli";
import { agentBundlePath } from "../../../scripts/build.ts";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";

let t: TestControlPlane;
const dirs: string[] = [];
const procs: ChildProcess[] = [];

before(async () => {
  t = await startTestControlPlane();
});
after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-agent-test-"));
  dirs.push(d);
  return d;
}

/** The agent bundle; its Docker API is off unless the test gives it a socket (never the machine's). */
function agent(args: string[], dockerSocket = ""): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [agentBundlePath, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, BERTH_DOCKER_SOCKET: dockerSocket },
  });
  procs.push(proc);
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  return { proc, output: () => out, exited };
}

async function token(opts: { maxUses?: number } = {}): Promise<string> {
  const team = await ensureDefaultTeam(t.cp.db);
  return (await createJoinToken(t.cp.db, { teamId: team.id, fingerprint: null, maxUses: opts.maxUses ?? null })).token;
}

test("join with a wrong token exits 78 with the server's reason", async () => {
  const good = await token();
  const a = agent(["join", "--url", t.url, "--token", `${good.slice(0, -6)}000000`, "--state-dir", stateDir()]);
  assert.equal(await a.exited, 78);
  assert.match(a.output(), /join refused: join token is not valid/);
});

test("join with bad arguments exits 2 with usage help", async () => {
  const a = agent(["join", "--url", "ftp://x", "--token", "t"]);
  assert.equal(await a.exited, 2);
  assert.match(a.output(), /--url must be an http\(s\) URL/);
  const b = agent(["frobnicate"]);
  assert.equal(await b.exited, 2);
  assert.match(b.output(), /usage:/);
});

test("join stores a 0600 credential, links, and reconnects after a control-plane restart", async () => {
  const dir = stateDir();
  const a = agent(["join", "--url", t.url, "--token", await token({ maxUses: 1 }), "--state-dir", dir, "--name", "proc-1"]);
  const host = await waitFor("host online", async () => {
    const h = await t.cp.db.host.findFirst({ where: { name: "proc-1" } });
    return h?.status === "online" ? h : null;
  });
  const credFile = join(dir, "credential.json");
  assert.equal(statSync(credFile).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(credFile, "utf8")).hostId, host.id);
  assert.equal((host.facts as { versions: { runc: string | null } }).versions.runc !== undefined, true);

  // Drop every link, as a control-plane restart would; the agent must come back by itself.
  t.cp.gateway.disconnect(host.id, 1012, "restarting");
  await waitFor("link dropped", () => !t.cp.gateway.isConnected(host.id), 5_000);
  await waitFor("agent reconnected", () => t.cp.gateway.isConnected(host.id), 15_000);
  a.proc.kill("SIGTERM");
  assert.equal(await a.exited, 0);
});

test("`run` on a revoked host exits 78 and does not retry", async () => {
  const dir = stateDir();
  const j = agent(["join", "--url", t.url, "--token", await token(), "--state-dir", dir, "--name", "proc-rev", "--no-run"]);
  assert.equal(await j.exited, 0);
  const hostId = JSON.parse(readFileSync(join(dir, "credential.json"), "utf8")).hostId as string;
  const r = agent(["run", "--state-dir", dir]);
  await waitFor("linked", () => t.cp.gateway.isConnected(hostId));
  await revokeHostCredentials(t.cp.db, hostId);
  t.cp.gateway.disconnect(hostId);
  assert.equal(await r.exited, 78);
  assert.match(r.output(), /revoked this host/);
  const again = agent(["run", "--state-dir", dir]);
  assert.equal(await again.exited, 78);
  assert.match(again.output(), /refused this host's credential/);
});

test("`run` before joining explains what to do when the Docker API is off", async () => {
  const r = agent(["run", "--state-dir", stateDir()]);
  assert.equal(await r.exited, 78);
  assert.match(r.output(), /has not joined a control plane/);
});

test("`run` before joining is a standalone daemon: the Docker API on its socket until SIGTERM", async () => {
  const dir = stateDir();
  const socket = join(dir, "docker.sock");
  const r = agent(["run", "--state-dir", join(dir, "state")], socket);
  // Every docker CLI the tests use (Debian's 20.10 and the machine's own) negotiates its version.
  const version = (bin: string) =>
    new Promise<{ code: number; out: string }>((resolve) =>
      execFile(
        bin,
        ["version", "--format", "{{.Server.Platform.Name}} {{.Server.APIVersion}} {{.Client.DefaultAPIVersion}} {{.Client.APIVersion}}"],
        { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dir } },
        (err, out) => resolve({ code: err ? 1 : 0, out: out.trim() }),
      ),
    );
  const [first, ...others] = dockerClis();
  await waitFor("the standalone agent answering docker version", async () => {
    if (r.proc.exitCode !== null) throw new Error(`exited: ${r.output()}`);
    return (await version(first!)).code === 0;
  });
  for (const bin of [first!, ...others]) {
    const res = await version(bin);
    assert.equal(res.code, 0, `${bin}: ${res.out}`);
    const [platform, server, clientDefault, client] = res.out.split(" ");
    assert.equal(`${platform} ${server}`, "Berth 1.47", bin);
    assert.equal(client, negotiatedVersion(clientDefault!, "1.47"), `${bin} settles on the lower API version`);
  }
  r.proc.kill("SIGTERM");
  assert.equal(await r.exited, 0);
  assert.equal(existsSync(socket), false, "the socket is removed on exit");
});

test("--metrics-listen serves Prometheus metrics behind the token in the state dir", async () => {
  const dir = stateDir();
  const socket = join(dir, "docker.sock");
  const port = await freeLoopbackPort();
  const r = agent(["run", "--state-dir", join(dir, "state"), "--metrics-listen", `127.0.0.1:${port}`], socket);
  const url = `http://127.0.0.1:${port}/metrics`;
  await waitFor("metrics listening", async () => {
    if (r.proc.exitCode !== null) throw new Error(`exited: ${r.output()}`);
    return (await fetch(url).catch(() => null))?.status === 401;
  });
  const token = readFileSync(join(dir, "state", "metrics-token"), "utf8").trim();
  assert.equal((statSync(join(dir, "state", "metrics-token")).mode & 0o777).toString(8), "600");
  assert.equal((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status, 401);
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^berth_images \d+$/m);
  assert.match(text, /^berth_link_connected 0$/m);
  assert.match(text, /^berth_agent_process_resident_memory_bytes \d+/m);
  r.proc.kill("SIGTERM");
  assert.equal(await r.exited, 0);
});
