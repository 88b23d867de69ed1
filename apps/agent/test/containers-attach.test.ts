// attach with real runc and conmon: output from the first byte when attached before the start,
// stdin with StdinOnce, a running container's output, TTY resize, and detaching.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { AgentRuntime } from "../src/runtime.ts";
import type { AttachSession } from "../src/containers/attach.ts";
import type { AgentEvent } from "../src/containers/events.ts";
import type { AttachFrame } from "../src/runtime/attach-relay.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";

let rt: AgentRuntime;
let stateDir: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});

after(() => disposeRuntime(rt, stateDir));

/** Reads frames until `until` matches what has arrived (or the output ends). */
async function read(s: AttachSession, until: (text: string) => boolean = () => false): Promise<{ frames: AttachFrame[]; text: string }> {
  const frames: AttachFrame[] = [];
  let text = "";
  for await (const f of s.output as AsyncIterable<AttachFrame>) {
    frames.push(f);
    text += f.data.toString("utf8");
    if (until(text)) break;
  }
  return { frames, text };
}

test("attached before the start: every byte of stdout and stderr, in order, then the end", async () => {
  const c = rt.containers;
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "echo first; echo oops >&2; sleep 0.2; echo last"] });
  const s = await c.attach(Id, { stdout: true, stderr: true });
  const reading = read(s);
  await c.start(Id);
  const { frames } = await reading;
  const byStream = (name: string) =>
    frames
      .filter((f) => f.stream === name)
      .map((f) => f.data.toString())
      .join("");
  assert.equal(byStream("stdout"), "first\nlast\n");
  assert.equal(byStream("stderr"), "oops\n");
  assert.equal((await c.wait(Id)).StatusCode, 0);

  // Only stderr asked for: stdout is not delivered.
  const { Id: id2 } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "echo a; echo b >&2"] });
  const s2 = await c.attach(id2, { stdout: false, stderr: true });
  const r2 = read(s2);
  await c.start(id2);
  assert.equal((await r2).text, "b\n");
  await c.wait(id2);
  await c.remove(Id);
  await c.remove(id2);
});

test("stdin: what the client writes reaches the container; closing it ends a StdinOnce container", async () => {
  const c = rt.containers;
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "while read l; do echo got:$l; done; echo bye"],
    OpenStdin: true,
    StdinOnce: true,
  });
  const s = await c.attach(Id, { stdin: true, stdout: true });
  assert.ok(s.stdin, "stdin is offered");
  const reading = read(s);
  await c.start(Id);
  await s.attached;
  s.stdin!.write("one\n");
  s.stdin!.end("two\n");
  assert.equal((await reading).text, "got:one\ngot:two\nbye\n");
  assert.equal((await c.wait(Id)).StatusCode, 0);

  // Without OpenStdin the container's stdin is not offered.
  const { Id: closed } = await c.create({ Image: "busybox", Cmd: ["true"] });
  const s2 = await c.attach(closed, { stdin: true });
  assert.equal(s2.stdin, null);
  s2.detach();
  await c.remove(Id);
  await c.remove(closed);
});

test("a running container: output from the moment of attach; detach leaves it running", async () => {
  const c = rt.containers;
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"] });
  await c.start(Id);
  const s = await c.attach(Id, { stdout: true });
  const { text } = await read(s, (t) => (t.match(/tick/g) ?? []).length >= 3);
  const ticks = [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(
    ticks.every((v, i) => i === 0 || v === ticks[i - 1]! + 1),
    `consecutive ticks: ${ticks.join(",")}`,
  );
  s.detach();
  assert.equal(c.inspect(Id).State && (c.inspect(Id).State as { Status: string }).Status, "running");
  // A second client attaches after the first detached.
  const again = await c.attach(Id, { stdout: true });
  assert.match((await read(again, (t) => t.includes("tick"))).text, /tick \d+/);
  again.detach();
  await c.remove(Id, { force: true });
});

test("each attach is an attach event, as with dockerd: before the start and to a running container", async () => {
  const c = rt.containers;
  const events: AgentEvent[] = [];
  const off = rt.events.subscribe((e) => events.push(e));
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "read l; echo got:$l"], OpenStdin: true });
  const early = await c.attach(Id, { stdout: true });
  const reading = read(early);
  await c.start(Id);
  const late = await c.attach(Id, { stdin: true, stdout: true });
  late.stdin!.end("x\n");
  assert.equal((await reading).text, "got:x\n");
  await c.wait(Id);
  late.detach();
  off();
  const mine = events.filter((e) => e.Actor.ID === Id);
  assert.deepEqual(
    mine.map((e) => e.Action),
    ["create", "attach", "start", "attach", "die"],
  );
  assert.equal(mine[1]!.Actor.Attributes.image, "busybox");
  await c.remove(Id);
});

test("a TTY container: the terminal is resized through conmon; stdin and output are raw", async () => {
  const c = rt.containers;
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh"], Tty: true, OpenStdin: true });
  await c.start(Id);
  const s = await c.attach(Id, { stdin: true, stdout: true, stderr: true });
  c.resize(Id, 33, 111);
  s.stdin!.write("stty size; exit 3\n");
  const { text, frames } = await read(s);
  assert.match(text, /33 111/);
  assert.ok(
    frames.every((f) => f.stream === "stdout"),
    "a TTY has one stream",
  );
  assert.equal((await c.wait(Id)).StatusCode, 3);
  assert.throws(() => c.resize(Id, 10, 10), /not running/);
  assert.throws(() => c.resize(Id, 0, 10), /between 1 and 10000/);
  await c.remove(Id);
});
