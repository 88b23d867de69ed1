// Exec records are bounded: health probes leave none behind, finished execs go after they were
// read (or a while), never-started ones expire, and a flood of creates never grows past the cap.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
let id: string;
const ms = 1_000_000;
const retention = { exitedMs: 600, inspectedMs: 100, unstartedMs: 600, max: 20 };

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime({ execRetention: retention }));
  ({ Id: id } = await rt.containers.create({ Image: "busybox", Cmd: ["sleep", "100000"] }));
  await rt.containers.start(id);
});

after(() => disposeRuntime(rt, stateDir));

const until = (what: string, fn: () => boolean) => waitFor(what, fn, 10_000, 20);

const gone = (execId: string) => {
  try {
    rt.execs.inspect(execId);
    return false;
  } catch (e) {
    return /No such exec instance/.test(String(e));
  }
};

test("health probes leave no exec records behind", async () => {
  const { Id } = await rt.containers.create({
    Image: "busybox",
    Cmd: ["sleep", "100000"],
    Healthcheck: { Test: ["CMD", "true"], Interval: 50 * ms, Retries: 1 },
  });
  await rt.containers.start(Id);
  // Sample how many exec records are held, often, until five probes have run (the log keeps five).
  const probes = () => (rt.containers.inspect(Id).State as { Health?: { Log: unknown[] } }).Health?.Log.length ?? 0;
  let most = 0;
  await waitFor(
    "five probes",
    () => {
      most = Math.max(most, rt.execs.size);
      return probes() >= 5;
    },
    10_000,
    10,
  );
  assert.ok(most <= 1, `at most the running probe is held (saw ${most})`);
  await rt.containers.remove(Id, { force: true });
});

test("a finished exec is kept until it has been inspected, then goes; an unread one expires", async () => {
  const { Id: read } = rt.execs.create(id, { Cmd: ["sh", "-c", "exit 7"] });
  assert.equal(await (await rt.execs.start(read)).exit, 7);
  const { Id: unread } = rt.execs.create(id, { Cmd: ["true"] });
  await (await rt.execs.start(unread)).exit;
  await sleep(retention.inspectedMs * 3); // the behaviour under test: longer than an inspected exec is kept
  assert.equal(rt.execs.inspect(read).ExitCode, 7, "an exit code waits for its reader");
  await until("the inspected exec to go", () => gone(read));
  assert.equal(gone(unread), false, "the unread one is still there");
  await until("the unread exec to expire", () => gone(unread));
});

test("hostile creates: never-started execs expire and the records never pass the cap", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 500; i++) {
    ids.push(rt.execs.create(id, { Cmd: ["true"] }).Id);
    assert.ok(rt.execs.size <= retention.max, `held ${rt.execs.size} records`);
  }
  assert.equal(rt.execs.inspect(ids.at(-1)!).Running, false, "the newest is kept");
  await until("unstarted execs to expire", () => rt.execs.size === 0);

  // All held records running: one more is refused with a clear message, and the agent goes on
  // once they are gone. The kills come right after the starts, before runc may have written the
  // processes' pids: they must still land (a probe that times out at once relies on it).
  const running = [];
  for (let i = 0; i < retention.max; i++) {
    const { Id } = rt.execs.create(id, { Cmd: ["sleep", "100"] });
    running.push(await rt.execs.start(Id));
  }
  assert.throws(() => rt.execs.create(id, { Cmd: ["true"] }), /too many exec instances on this host \(20 running\)/);
  const killedAt = Date.now();
  for (const s of running) s.kill();
  await Promise.all(running.map((s) => s.exit));
  assert.ok(Date.now() - killedAt < 20_000, "every exec was killed, none ran its 100 s");
  const { Id: after } = rt.execs.create(id, { Cmd: ["true"] });
  assert.equal(await (await rt.execs.start(after)).exit, 0);
});
