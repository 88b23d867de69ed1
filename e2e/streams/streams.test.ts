// Live streams through the control plane (/api/streams/<kind>) from a real agent: logs that
// resume after a dropped connection with no gap and no duplicate, flow control that holds a
// client's window, a terminal, stats, events, and who may open which stream.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StreamClient, StreamError } from "@berth/cli/streams";
import type { HostEvent, LogStreamData } from "@berth/protocol";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { linkAgent, type TestAgent } from "@berth/test-support/agent";
import { waitFor, within } from "@berth/test-support/wait";

let t: TestControlPlane;
let mirror: TestRegistry;
let agent: TestAgent | null = null;
let owner: UserClient;
let viewer: UserClient;
let hostId: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-streams-"));

before(async () => {
  mirror = await startRegistry();
  await seedBusybox(mirror, tmp);
  t = await startTestControlPlane();
  owner = await t.signUp("streams-owner@example.com");
  viewer = await t.signUp("streams-viewer@example.com");
  ({ agent, hostId } = await linkAgent(t, owner, { stateDir: join(tmp, "agent"), name: "streamer", registryMirror: mirror.url }));
  await t.cp.gateway.command(hostId, "images.pull", { reference: "busybox", registry: null }, { timeoutMs: 60_000 });
});

after(async () => {
  await agent?.stop();
  await t?.close();
  await mirror?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** How the dashboard opens a stream: its session cookie, from its own origin. */
const asBrowser = (u: UserClient) => ({ cookie: u.cookie, origin: new URL(t.url).origin });

function logStream(user: UserClient, params: Record<string, string | number | boolean | undefined>, window?: number) {
  return new StreamClient({ url: t.url, kind: "logs", hostId, headers: asBrowser(user), params, ...(window ? { window } : {}) });
}

test("a log stream dropped mid-flow resumes from its last cursor with no gap and no duplicate", { timeout: 120_000 }, async () => {
  const total = 30_000;
  // Bursts of numbered lines (stderr every 1000th) so the stream is still flowing when it drops.
  const script = `i=0; while [ $i -lt ${total} ]; do seq $((i+1)) $((i+500)); echo err$((i+500)) >&2; i=$((i+500)); sleep 0.05; done`;
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    name: "counter",
    config: { Image: "busybox", Cmd: ["sh", "-c", script] },
  });
  const seen: number[] = [];
  const errs: string[] = [];
  let last = "";
  const take = (d: LogStreamData) => {
    for (const [cursor, stream, time, text] of d.lines) {
      assert.ok(!last || cursorLess(last, cursor), `cursor ${cursor} follows ${last}`);
      assert.match(time, /^\d{4}-\d\d-\d\dT/);
      last = cursor;
      if (stream === "e") errs.push(text);
      else seen.push(Number(text));
    }
  };
  const first = logStream(owner, { id: Id }, 2);
  for await (const d of first) {
    take(d);
    if (seen.length >= 3_000) break;
  }
  first.terminate();
  assert.ok(seen.length < total, "the first connection dropped before the container finished");
  const second = logStream(owner, { id: Id, after: last });
  for await (const d of second) take(d);
  assert.equal(seen.length, total);
  seen.forEach((n, i) => {
    assert.equal(n, i + 1, `line ${i + 1}`);
  });
  assert.equal(errs.length, total / 500);
  assert.equal(errs[0], "err500\n");
});

test("long lines of control characters and CJK text pass live and by tail; the link stays up and every other command works", {
  timeout: 120_000,
}, async () => {
  // 3 lines of 200,000 control characters (1.2 MB of JSON each), 3 of 200,000 CJK characters
  // (600 kB), then a short line: each far over a frame in encoded bytes, fine in characters.
  const script = [
    "i=0; while [ $i -lt 3 ]; do head -c 200000 /dev/zero | tr '\\000' '\\001'; echo; i=$((i+1)); done",
    "i=0; while [ $i -lt 3 ]; do yes 中文 | head -n 100000 | tr -d '\\n'; echo; i=$((i+1)); done",
    "echo done-with-long-lines",
  ].join("; ");
  const { Id } = await owner.trpc.containers.run.mutate({ hostId, name: "wide", config: { Image: "busybox", Cmd: ["sh", "-c", script] } });
  const live: string[] = [];
  for await (const d of logStream(owner, { id: Id }, 4)) live.push(...d.lines.map((l) => l[3]));
  assert.equal(live.length, 7);
  assert.equal(live[6], "done-with-long-lines\n");
  // (Messages show only the ends of these lines: the whole would fill a screen.)
  const ends = (l: string) => `${JSON.stringify(l.slice(0, 20))}…${JSON.stringify(l.slice(-60))} (${l.length} characters)`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the lines under test are made of U+0001 on purpose
  for (const l of live.slice(0, 3)) assert.ok(/^\u0001+… \[\d+ more characters not shown\]\n$/.test(l), ends(l));
  for (const l of live.slice(3, 6)) assert.ok(/^(中文)+中?… \[\d+ more characters not shown\]\n$/.test(l), ends(l));
  assert.ok(
    live.every((l) => Buffer.byteLength(JSON.stringify(l)) <= 64 * 1024),
    "each line fits its budget in encoded bytes",
  );

  const tail = await owner.trpc.containers.logs.query({ hostId, id: Id, tail: 10 });
  assert.equal(tail.at(-1)!.line, "done-with-long-lines\n");
  assert.ok(tail.length >= 2, `tail kept ${tail.length} lines`);
  // The link never dropped: the same session answers, and the host stayed linked throughout.
  assert.equal(t.cp.gateway.isConnected(hostId), true);
  assert.equal((await owner.trpc.hosts.ping.query({ id: hostId })).reply.pong, true);
  assert.ok((await owner.trpc.containers.list.query({ hostId })).some((c) => c.Id === Id));
  await owner.trpc.containers.remove.mutate({ hostId, id: Id, force: true });
});

test("flow control: a client that stops reading holds exactly its window, and the agent waits", { timeout: 60_000 }, async () => {
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    name: "flood",
    config: { Image: "busybox", Cmd: ["sh", "-c", "seq 1 200000; sleep 3600"] },
  });
  await waitFor(
    "flood written",
    async () => (await owner.trpc.containers.logs.query({ hostId, id: Id, tail: 1 }))[0]?.line === "200000\n",
    30_000,
  );
  const raw: unknown[] = [];
  const slow = logStream(owner, { id: Id }, 3);
  // Count what arrives without consuming: the iterator's queue is the client's whole buffer.
  (slow as unknown as { push(x: unknown): void }).push = (x: unknown) => void raw.push(x);
  await slow.opened;
  await waitFor("the window's three messages", () => raw.length >= 3, 10_000, 20);
  // The behaviour under test is time passing: with 200,000 lines waiting, nothing more comes.
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(raw.length, 3, "the server sent no more than the window");
  slow.close();
  await owner.trpc.containers.remove.mutate({ hostId, id: Id, force: true });
});

test("tail and stream filters: the last N lines, stderr only", { timeout: 60_000 }, async () => {
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    name: "tailer",
    config: { Image: "busybox", Cmd: ["sh", "-c", "seq 1 100; echo oops >&2"] },
  });
  await waitFor(
    "exited",
    async () =>
      (await owner.trpc.containers.inspect.query({ hostId, id: Id })).State &&
      ((await owner.trpc.containers.inspect.query({ hostId, id: Id })).State as { Running: boolean }).Running === false,
  );
  const lines: string[] = [];
  for await (const d of logStream(viewer, { id: Id, tail: 3, follow: false })) lines.push(...d.lines.map((l) => l[3]));
  assert.deepEqual(lines, ["99\n", "100\n", "oops\n"]);
  const errOnly: string[] = [];
  for await (const d of logStream(viewer, { id: Id, stdout: false, follow: false })) errOnly.push(...d.lines.map((l) => `${l[1]}:${l[3]}`));
  assert.deepEqual(errOnly, ["e:oops\n"]);
});

test("a terminal: exec with a TTY, typed input, resize, and a missing shell falls back to /bin/sh", { timeout: 60_000 }, async () => {
  await owner.trpc.containers.run.mutate({ hostId, name: "shellbox", config: { Image: "busybox", Cmd: ["sleep", "3600"] } });
  const term = new StreamClient({
    url: t.url,
    kind: "exec",
    hostId,
    headers: asBrowser(owner),
    params: { id: "shellbox", cmd: "/bin/bash", cols: 100, rows: 30 },
  });
  let out = "";
  let exit: number | undefined;
  const reader = (async () => {
    for await (const m of term) {
      if (m.o) out += m.o;
      if (m.exit !== undefined) exit = m.exit;
    }
  })();
  await waitFor("fallback note and prompt", () => out.includes("using /bin/sh") && out.includes("/ # "));
  term.input("echo hi\r");
  await waitFor("hi", () => /\r\nhi\r\n/.test(out)).catch((e) => assert.fail(`${String(e)}: ${JSON.stringify(out)}`));
  term.resize(120, 40);
  term.input("stty size\r");
  await waitFor("new size", () => out.includes("40 120"));
  term.input("exit 3\r");
  await reader;
  assert.equal(exit, 3);
  const row = await t.cp.db.auditLog.findFirstOrThrow({ where: { action: "containers.exec", target: `${hostId}/shellbox` } });
  assert.equal(row.channel, "ui");
});

test("stats stream: a Docker-shaped sample a second", { timeout: 30_000 }, async () => {
  const s = new StreamClient({ url: t.url, kind: "stats", hostId, headers: asBrowser(viewer), params: { id: "shellbox" }, window: 1 });
  const samples = [];
  for await (const x of s) {
    samples.push(x);
    if (samples.length === 2) break;
  }
  assert.ok(samples[1]!.cpu_stats.cpu_usage.total_usage > 0);
  assert.ok((samples[1]!.memory_stats.usage ?? 0) > 0);
  assert.ok(Date.parse(samples[1]!.read) > Date.parse(samples[0]!.read));
});

test("events stream: the host's events as they happen", { timeout: 30_000 }, async () => {
  const ev = new StreamClient({ url: t.url, kind: "events", hostId, headers: asBrowser(viewer) });
  await ev.opened;
  const seen: Array<{ name: string; action: string }> = [];
  const reading = (async () => {
    for await (const m of ev) {
      for (const e of m.events) seen.push({ name: e.Actor.Attributes.name ?? "", action: e.Action });
      if (seen.some((e) => e.name === "evented" && e.action === "die")) break;
    }
  })();
  // The agent subscribes once the stream has opened: rename a probe container until its rename shows.
  await owner.trpc.containers.create.mutate({ hostId, name: "events-probe-0", config: { Image: "busybox", Cmd: ["true"] } });
  let probe = 0;
  await waitFor(
    "the events stream live",
    async () => {
      if (seen.some((e) => e.action === "rename" && e.name.startsWith("events-probe-"))) return true;
      await owner.trpc.containers.rename.mutate({ hostId, id: `events-probe-${probe}`, name: `events-probe-${probe + 1}` });
      probe++;
      return false;
    },
    15_000,
    200,
  );
  await owner.trpc.containers.run.mutate({ hostId, name: "evented", config: { Image: "busybox", Cmd: ["true"] } });
  await within("the evented container's die event", reading, 20_000);
  assert.deepEqual(
    seen
      .filter((e) => e.name === "evented")
      .map((e) => e.action)
      .slice(0, 2),
    ["create", "start"],
  );
  await owner.trpc.containers.remove.mutate({ hostId, id: `events-probe-${probe}`, force: true });
});

test("who may open a stream: viewers watch but get no terminal, cookies only from the dashboard's origin, tokens anywhere", {
  timeout: 30_000,
}, async () => {
  const refused = async (c: StreamClient) => {
    try {
      await c.opened;
    } catch (e) {
      assert.ok(e instanceof StreamError);
      return { status: e.code, message: e.message };
    }
    c.close();
    assert.fail("the stream opened");
  };
  assert.deepEqual(
    await refused(new StreamClient({ url: t.url, kind: "exec", hostId, headers: asBrowser(viewer), params: { id: "shellbox" } })),
    { status: "403", message: "this needs the operator role in the team" },
  );
  assert.equal((await refused(new StreamClient({ url: t.url, kind: "logs", hostId, params: { id: "shellbox" } }))).status, "401");
  assert.equal(
    (
      await refused(
        new StreamClient({
          url: t.url,
          kind: "logs",
          hostId,
          headers: { cookie: viewer.cookie, origin: "https://evil.example" },
          params: { id: "shellbox" },
        }),
      )
    ).status,
    "403",
  );
  assert.equal(
    (
      await refused(
        new StreamClient({ url: t.url, kind: "logs", hostId, headers: asBrowser(viewer), params: { id: "shellbox", after: "x" } }),
      )
    ).status,
    "400",
  );
  assert.equal((await refused(new StreamClient({ url: t.url, kind: "nope" as "logs", hostId, headers: asBrowser(viewer) }))).status, "404");
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const { token } = await owner.trpc.apiTokens.create.mutate({ name: "log reader", role: "viewer", teamId });
  const lines: string[] = [];
  for await (const d of new StreamClient({
    url: t.url,
    kind: "logs",
    hostId,
    headers: { authorization: `Bearer ${token}` },
    params: { id: "tailer", follow: false, tail: 1 },
  }))
    lines.push(...d.lines.map((l) => l[3]));
  assert.deepEqual(lines, ["oops\n"]);
  // A missing container is the agent's answer, passed on as the stream's end.
  await assert.rejects(async () => {
    for await (const _ of logStream(viewer, { id: "no-such-thing" })) void _;
  }, /No such container/);
});

/** Cursor order: `<ns>-<n>`, compared as numbers. */
function cursorLess(a: string, b: string): boolean {
  const [an, ai] = a.split("-").map(BigInt) as [bigint, bigint];
  const [bn, bi] = b.split("-").map(BigInt) as [bigint, bigint];
  return an < bn || (an === bn && ai < bi);
}

test("webhooks hear a container die on a real agent, with its exit code", { timeout: 60_000 }, async () => {
  const { createServer } = await import("node:http");
  const got: Array<{ event: string; data: { host: { name: string }; container: { name: string }; exitCode: number } }> = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      got.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  try {
    const port = (receiver.address() as { port: number }).port;
    await owner.trpc.webhooks.setAllowlist.mutate({ teamId: (await owner.trpc.auth.teams.query())[0]!.id, entries: ["127.0.0.1"] });
    await owner.trpc.webhooks.create.mutate({ name: "dies", url: `http://127.0.0.1:${port}/`, events: ["container.die"] });
    await owner.trpc.containers.run.mutate({ hostId, name: "quitter", config: { Image: "busybox", Cmd: ["sh", "-c", "exit 3"] } });
    const die = await waitFor(
      "container.die delivered",
      () => got.find((g) => g.event === "container.die" && g.data.container.name === "quitter"),
      20_000,
    );
    assert.equal(die.data.exitCode, 3);
    assert.equal(die.data.host.name, "streamer");
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

test("the fleet tables and search list what the agent reports", { timeout: 30_000 }, async () => {
  const row = await waitFor(
    "shellbox in the fleet table",
    async () => (await viewer.trpc.fleet.list.query({ kind: "container", q: "shellbox" })).rows[0],
  );
  assert.deepEqual([row.hostName, row.state, row.image], ["streamer", "running", "busybox"]);
  await waitFor("busybox in the images table", async () =>
    (await viewer.trpc.fleet.list.query({ kind: "image" })).rows.find((r) => r.image.includes("busybox:latest")),
  );
  const found = await viewer.trpc.fleet.search.query({ q: "shell" });
  assert.deepEqual(
    found.containers.map((c) => c.name),
    ["shellbox"],
  );
  // A removal shows up without waiting for the periodic report: events nudge it.
  await owner.trpc.containers.remove.mutate({ hostId, id: "shellbox", force: true });
  await waitFor(
    "gone from the fleet table",
    async () => (await viewer.trpc.fleet.list.query({ kind: "container", q: "shellbox" })).total === 0,
    5_000,
  );
});

test("the fleet-wide events feed: every host of the caller's teams, each event with its host", { timeout: 30_000 }, async () => {
  const feed = new StreamClient({ url: t.url, kind: "events", hostId: "", headers: asBrowser(viewer) });
  await feed.opened;
  await owner.trpc.containers.run.mutate({ hostId, name: "fleetfed", config: { Image: "busybox", Cmd: ["true"] } });
  // The fleet feed adds each event's host (hostId, hostName) beside Docker's fields.
  let seen: HostEvent | undefined;
  for await (const m of feed) {
    seen = m.events.find((e) => e.Actor.Attributes.name === "fleetfed" && e.Action === "start");
    if (seen) break;
  }
  assert.deepEqual([seen?.hostId, seen?.hostName], [hostId, "streamer"]);
  const loner = await t.signUp("streams-loner@example.com");
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  await owner.trpc.teams.removeMember.mutate({ teamId, userId: (await loner.trpc.auth.me.query())!.user.id });
  const refused = new StreamClient({ url: t.url, kind: "events", hostId: "", headers: asBrowser(loner) });
  await assert.rejects(refused.opened, (e: StreamError) => e.code === "403");
});
