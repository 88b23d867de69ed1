// The berth CLI as a script runs it: a child process with BERTH_URL and BERTH_TOKEN, against a
// control plane with a real agent. Exit codes, output, errors and the audit channel.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../scripts/paths.ts";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { linkAgent, type TestAgent } from "@berth/test-support/agent";

let t: TestControlPlane;
let mirror: TestRegistry;
let agent: TestAgent | null = null;
let owner: UserClient;
let hostId: string;
let operatorToken: string;
let viewerToken: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-cli-"));

before(async () => {
  mirror = await startRegistry();
  await seedBusybox(mirror, tmp);
  t = await startTestControlPlane();
  owner = await t.signUp("cli-owner@example.com");
  ({ agent, hostId } = await linkAgent(t, owner, { stateDir: join(tmp, "agent"), name: "clihost", registryMirror: mirror.url }));
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  operatorToken = (await owner.trpc.apiTokens.create.mutate({ name: "cli operator", role: "operator", teamId })).token;
  viewerToken = (await owner.trpc.apiTokens.create.mutate({ name: "cli viewer", role: "viewer", teamId })).token;
});

after(async () => {
  await agent?.stop();
  await t?.close();
  await mirror?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function berth(args: string[], o: { token?: string; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, "packages/cli/bin/berth.mjs"), ...args], {
      env: { ...process.env, BERTH_URL: t.url, BERTH_TOKEN: o.token ?? operatorToken },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.stdin.end(o.input ?? "");
    child.on("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

test("hosts, pull, run, ps, logs, exec, stop, rm through the CLI", { timeout: 120_000 }, async () => {
  const hosts = await berth(["hosts"]);
  assert.equal(hosts.code, 0, hosts.stderr);
  assert.match(hosts.stdout, /^ID\s+NAME\s+STATUS/m);
  assert.match(hosts.stdout, new RegExp(`${hostId}\\s+clihost\\s+online`));

  const pull = await berth(["pull", "--host", "clihost", "busybox"]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /busybox: pulled/);
  assert.match((await berth(["images", "--host", "clihost"])).stdout, /busybox:latest/);

  const run = await berth([
    "run",
    "--host",
    "clihost",
    "--name",
    "c1",
    "-e",
    "WHO=cli",
    "busybox",
    "sh",
    "-c",
    "echo hello $WHO; echo oops >&2; sleep 3600",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = await berth(["ps", "--host", hostId, "--json"]);
  const list = JSON.parse(ps.stdout) as Array<{ Id: string; State: string }>;
  assert.equal(list.find((c) => c.Id === id)?.State, "running");

  const logs = await berth(["logs", "--host", "clihost", "c1"]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout, "hello cli\noops\n");
  assert.equal((await berth(["logs", "--host", "clihost", "--tail", "1", "c1"])).stdout, "oops\n");

  const ex = await berth(["exec", "--host", "clihost", "c1", "sh", "-c", "echo out; echo err >&2; exit 7"]);
  assert.deepEqual([ex.code, ex.stdout, ex.stderr], [7, "out\n", "err\n"]);
  const piped = await berth(["exec", "-i", "--host", "clihost", "c1", "wc", "-l"], { input: "a\nb\nc\n" });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout.trim(), "3");

  assert.equal((await berth(["stop", "--host", "clihost", "c1"])).code, 0);
  assert.equal((await berth(["rm", "--host", "clihost", "c1"])).code, 0);
  assert.equal(JSON.parse((await berth(["ps", "-a", "--host", "clihost", "--json"])).stdout).length, 0);
  const row = await t.cp.db.auditLog.findFirstOrThrow({ where: { action: "containers.run" }, orderBy: { at: "desc" } });
  assert.equal(row.channel, "cli");
});

test("errors: a viewer's token, a missing container, no token, a bad command", { timeout: 60_000 }, async () => {
  const refused = await berth(["run", "--host", "clihost", "busybox", "true"], { token: viewerToken });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /berth: this needs the operator role in the team/);
  const missing = await berth(["logs", "--host", "clihost", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such container: nope/);
  const noToken = await berth(["hosts"], { token: "" });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /set BERTH_TOKEN/);
  const bad = await berth(["frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
  const noHost = await berth(["ps", "--host", "elsewhere"]);
  assert.match(noHost.stderr, /no host 'elsewhere'/);
});

test("service create, ls, ps, scale, update, rollback, inspect and rm through the CLI", { timeout: 120_000 }, async () => {
  const created = await berth(["service", "create", "--name", "clisvc", "--replicas", "2", "-e", "A=1", "busybox", "sleep", "3600"]);
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  const ls = async () => (await berth(["service", "ls"])).stdout;
  const until = async (what: string, ok: (out: string) => boolean) => {
    const end = Date.now() + 60_000;
    for (let out = await ls(); ; out = await ls()) {
      if (ok(out)) return out;
      if (Date.now() > end) throw new Error(`${what}: ${out}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await until("2/2 running", (out) => new RegExp(`${id}\\s+clisvc\\s+replicated\\s+2/2\\s+busybox`).test(out));
  const ps = await berth(["service", "ps", "clisvc"]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.equal(ps.stdout.split("\n").filter((l) => /\srunning\s+running/.test(l)).length, 2);

  assert.equal((await berth(["service", "scale", "clisvc=1"])).code, 0);
  await until("1/1 running", (out) => /clisvc\s+replicated\s+1\/1/.test(out));
  const updated = await berth(["service", "update", "-e", "A=2", "clisvc"]);
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /clisvc at version 3 \(updating\)/);
  const rolled = await berth(["service", "rollback", "clisvc"]);
  assert.equal(rolled.code, 0, rolled.stderr);
  const spec = JSON.parse((await berth(["service", "inspect", "clisvc"])).stdout) as {
    version: number;
    spec: { task: { env: string[]; args: string[] } };
  };
  assert.equal(spec.version, 4);
  assert.deepEqual(spec.spec.task.env, ["A=1"]);
  assert.deepEqual(spec.spec.task.args, ["sleep", "3600"], "the image's arguments pass through untouched");

  const viewer = await berth(["service", "scale", "clisvc=3"], { token: viewerToken });
  assert.equal(viewer.code, 1);
  assert.match(viewer.stderr, /berth: /);
  const bad = await berth(["service", "create", "--constraint", "node.colour==red", "busybox"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown key node\.colour/);
  assert.equal((await berth(["service", "rm", "clisvc"])).code, 0);
  assert.doesNotMatch(await ls(), /clisvc/);
});

test("service logs: every task's lines, tagged with its task and host", { timeout: 120_000 }, async () => {
  const created = await berth([
    "service",
    "create",
    "--name",
    "talker",
    "--replicas",
    "2",
    "busybox",
    "sh",
    "-c",
    "echo hello from slot; sleep 3600",
  ]);
  assert.equal(created.code, 0, created.stderr);
  const deadline = Date.now() + 60_000;
  let out = "";
  for (;;) {
    out = (await berth(["service", "logs", "talker"])).stdout;
    if ((out.match(/hello from slot/g) ?? []).length === 2 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const lines = out.trim().split("\n").sort();
  assert.equal(lines.length, 2, out);
  assert.match(lines[0]!, /^talker\.[12]\.[0-9a-z]{25}@clihost {4}\| hello from slot$/);
  assert.notEqual(lines[0]!.split("@")[0], lines[1]!.split("@")[0], "one line from each task");
  const viewer = await berth(["service", "logs", "talker"], { token: viewerToken });
  assert.equal(viewer.code, 0, "viewers read service logs");
  assert.equal(viewer.stdout.trim().split("\n").length, 2);
  assert.equal((await berth(["service", "rm", "talker"])).code, 0);
});
