// exec with real runc: exit codes with and without a TTY, stdin, env, user, workdir, resize.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { finished } from "node:stream/promises";
import type { AgentRuntime } from "../src/runtime.ts";
import type { AgentEvent } from "../src/containers/events.ts";
import type { ExecSession } from "../src/containers/exec.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor, within } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
let id: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  ({ Id: id } = await rt.containers.create({ Image: "busybox", Cmd: ["sleep", "100000"], Env: ["FROM_CONTAINER=1"] }, "exec-target"));
  await rt.containers.start(id);
});

after(() => disposeRuntime(rt, stateDir));

async function collect(s: ExecSession): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  s.stdout.on("data", (d: Buffer) => (out += d.toString()));
  s.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const code = await s.exit;
  // The exit can come before the last of the output: wait until both pipes have ended.
  await within("the exec's output to end", Promise.all([finished(s.stdout), s.stderr ? finished(s.stderr) : null]));
  return { code, out, err };
}

async function exec(cfg: Parameters<AgentRuntime["execs"]["create"]>[1], stdin?: string) {
  const { Id } = rt.execs.create("exec-target", cfg);
  const s = await rt.execs.start(Id);
  if (stdin !== undefined) s.stdin!.end(stdin);
  return { ...(await collect(s)), execId: Id };
}

test("exec without a TTY: exit code, separate stdout and stderr, env, user, workdir, stdin", async () => {
  const r = await exec({ Cmd: ["sh", "-c", "echo out; echo err >&2; exit 5"] });
  assert.deepEqual([r.code, r.out, r.err], [5, "out\n", "err\n"]);
  assert.equal((rt.execs.inspect(r.execId) as { ExitCode: number; Running: boolean }).ExitCode, 5);

  const env = await exec({
    Cmd: ["sh", "-c", "echo $FROM_CONTAINER $EXTRA $(id -u) $(pwd)"],
    Env: ["EXTRA=yes"],
    User: "daemon",
    WorkingDir: "/tmp",
  });
  assert.equal(env.out, "1 yes 1 /tmp\n");

  const cat = await exec({ Cmd: ["cat"], AttachStdin: true }, "typed input\n");
  assert.equal(cat.out, "typed input\n");
  assert.equal(cat.code, 0);

  const missing = await exec({ Cmd: ["/no/such/thing"] });
  assert.notEqual(missing.code, 0);
  assert.throws(() => rt.execs.create("exec-target", { Cmd: [] }), /No exec command specified/);
  await assert.rejects(exec({ Cmd: ["true"], User: "ghost" }), /unable to find user ghost/);
});

test("exec with a TTY: a terminal, typed input, resize, and the exit code", async () => {
  const { Id } = rt.execs.create("exec-target", { Cmd: ["sh"], Tty: true, AttachStdin: true });
  const s = await rt.execs.start(Id);
  let out = "";
  s.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const shown = (re: RegExp) => waitFor(`${re} in the terminal`, () => re.test(out), 5_000, 50).catch(() => assert.match(out, re));
  s.stdin!.write("tty\n");
  await shown(/\/dev\/pts\/\d+/);
  rt.execs.resize(Id, 33, 111);
  // The resize reaches the terminal on a side channel: ask for the size until it shows.
  await waitFor(
    "the new terminal size",
    () => {
      if (/33 111/.test(out)) return true;
      s.stdin!.write("stty size\n");
      return false;
    },
    5_000,
    200,
  ).catch(() => assert.match(out, /33 111/));
  s.stdin!.write("exit 3\n");
  assert.equal(await s.exit, 3);
  assert.equal(s.stderr, null, "a TTY merges stderr into stdout");
  assert.equal((rt.execs.inspect(Id) as { ExitCode: number }).ExitCode, 3);
  await assert.rejects(rt.execs.start(Id), /has already run/);

  const r = await exec({ Cmd: ["sh", "-c", "exit 0"], Tty: true });
  assert.equal(r.code, 0);
});

test("exec events, as dockerd's: exec_create and exec_start name the command, exec_die has the exit code", async () => {
  const events: AgentEvent[] = [];
  const off = rt.events.subscribe((e) => events.push(e));
  const r = await exec({ Cmd: ["sh", "-c", "exit 7"] });
  off();
  const mine = events.filter((e) => e.Type === "container" && e.Actor.ID === id && e.Actor.Attributes.execID === r.execId);
  assert.deepEqual(
    mine.map((e) => e.Action),
    ["exec_create: sh -c exit 7", "exec_start: sh -c exit 7", "exec_die"],
  );
  assert.equal(mine[2]!.Actor.Attributes.exitCode, "7");
  for (const e of mine) assert.deepEqual([e.Actor.Attributes.name, e.Actor.Attributes.image], ["exec-target", "busybox"]);
});

test("exec is refused on a stopped or paused container", async () => {
  await rt.containers.pause(id);
  assert.throws(() => rt.execs.create(id, { Cmd: ["true"] }), /is paused/);
  await rt.containers.unpause(id);
  const { Id: stopped } = await rt.containers.create({ Image: "busybox", Cmd: ["true"] });
  assert.throws(() => rt.execs.create(stopped, { Cmd: ["true"] }), /is not running/);
});
