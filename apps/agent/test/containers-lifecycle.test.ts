// Containers with real runc and conmon: lifecycle, exit codes and signals, stop timeouts, OOM,
// restart policies, user resolution, default confinement and logs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentRuntime } from "../src/runtime.ts";
import type { ContainerService } from "../src/containers/service.ts";
import type { AgentEvent } from "../src/containers/events.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
let c: ContainerService;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  c = rt.containers;
});

after(() => disposeRuntime(rt, stateDir));

async function output(id: string): Promise<string> {
  let s = "";
  for await (const e of c.logs(id)) s += e.line;
  return s;
}

/** Runs a busybox command to completion; returns its exit code and output. */
async function run(cmd: string, extra: Record<string, unknown> = {}): Promise<{ id: string; code: number; out: string }> {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", cmd], ...extra });
  await c.start(Id);
  const { StatusCode } = await c.wait(Id);
  return { id: Id, code: StatusCode, out: await output(Id) };
}

test("lifecycle: create, start, exit code, stdout and stderr with timestamps, events in order", async () => {
  const events: AgentEvent[] = [];
  const unsubscribe = rt.events.subscribe((e) => events.push(e));
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"] }, "life1");
  assert.equal(c.inspect("life1").State && (c.inspect("life1").State as { Status: string }).Status, "created");
  await c.start("life1");
  assert.deepEqual(await c.wait(Id), { StatusCode: 3, Error: null });
  const st = c.inspect(Id).State;
  assert.equal(st.Status, "exited");
  assert.equal(st.ExitCode, 3);
  assert.equal(st.Running, false);
  const lines = [];
  for await (const e of c.logs(Id)) lines.push(e);
  assert.deepEqual(
    lines.map((l) => [l.stream, l.line]),
    [
      ["stdout", "out\n"],
      ["stderr", "err\n"],
    ],
  );
  for (const l of lines) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+/);
  const stdoutOnly = [];
  for await (const e of c.logs(Id, { stderr: false })) stdoutOnly.push(e.line);
  assert.deepEqual(stdoutOnly, ["out\n"]);

  // A second start of an exited container runs it again.
  await c.start(Id);
  await c.wait(Id);
  assert.equal((await output(Id)).split("\n").filter(Boolean).length, 4);
  await c.remove(Id);
  unsubscribe();
  const mine = events.filter((e) => e.Actor.ID === Id);
  assert.deepEqual(
    mine.map((e) => e.Action),
    ["create", "start", "die", "start", "die", "destroy"],
  );
  assert.equal(mine[2]!.Actor.Attributes.exitCode, "3");
  for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.seq > mine[i - 1]!.seq, "sequence numbers increase");
  assert.throws(() => c.inspect(Id), /No such container/);
});

test("signals: kill with a signal, stop runs the trap, pause and unpause, wait conditions", async () => {
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo bye; exit 7' TERM; echo trapped; while true; do sleep 0.1; done"],
  });
  await c.start(Id);
  await waitFor("the shell's traps installed", async () => (await output(Id)).includes("trapped"));
  await c.kill(Id, "USR1");
  await waitFor("the USR1 trap", async () => (await output(Id)).includes("got-usr1"));

  await c.pause(Id);
  assert.equal((c.inspect(Id).State as { Status: string }).Status, "paused");
  await assert.rejects(c.pause(Id), /already paused/);
  await c.unpause(Id);
  assert.equal((c.inspect(Id).State as { Status: string }).Status, "running");

  const nextExit = c.wait(Id, "next-exit");
  const t0 = Date.now();
  await c.stop(Id, 10);
  assert.ok(Date.now() - t0 < 5000, "the trap made it exit at once");
  assert.deepEqual(await nextExit, { StatusCode: 7, Error: null });
  assert.match(await output(Id), /bye/);
  await assert.rejects(c.kill(Id), /is not running/);

  // SIGKILL gives 137, as in Docker, and like dockerd's it returns once the container has stopped.
  await c.start(Id);
  await c.kill(Id, "KILL");
  const killed = c.inspect(Id).State as { Status: string; ExitCode: number };
  assert.deepEqual([killed.Status, killed.ExitCode], ["exited", 137], "stopped when kill returns");
  assert.equal((await c.wait(Id)).StatusCode, 137);

  const removed = c.wait(Id, "removed");
  await c.remove(Id);
  await removed;
});

test("stop timeout: a container that ignores SIGTERM is killed after the timeout (137)", async () => {
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "trap '' TERM; echo trapped; while true; do sleep 0.1; done"],
    StopTimeout: 1,
  });
  await c.start(Id);
  await waitFor("the shell ignoring SIGTERM", async () => (await output(Id)).includes("trapped"));
  const t0 = Date.now();
  await c.stop(Id);
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 6000, `stop took ${took} ms with a 1 s timeout`);
  assert.equal((c.inspect(Id).State as { ExitCode: number }).ExitCode, 137);
  // An explicit timeout overrides the container's StopTimeout; a custom stop signal is used.
  const { Id: id2 } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "trap 'exit 12' INT; trap '' TERM; echo trapped; while true; do sleep 0.1; done"],
    StopSignal: "SIGINT",
  });
  await c.start(id2);
  await waitFor("the shell's traps installed", async () => (await output(id2)).includes("trapped"));
  await c.stop(id2, 30);
  assert.equal((c.inspect(id2).State as { ExitCode: number }).ExitCode, 12);
  await c.remove(Id);
  await c.remove(id2);
});

test("remove: a running container needs force; names are unique; rename", async () => {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sleep", "1000"] }, "named1");
  await assert.rejects(c.create({ Image: "busybox" }, "named1"), /Conflict\. The container name "\/named1" is already in use by container/);
  await assert.rejects(c.create({ Image: "busybox" }, "-bad"), /Invalid container name/);
  await assert.rejects(c.create({ Image: "nope:latest" }), /No such image/);
  await assert.rejects(c.create({ Image: "busybox", HostConfig: { Memory: 1000 } }), /Minimum memory limit/);
  await assert.rejects(c.create({ Image: "busybox", HostConfig: { CapAdd: ["NOT_A_CAP"] } }), /invalid capability/);
  await c.start(Id);
  await assert.rejects(c.remove(Id), /container is running: stop the container before removing or force remove/);
  c.rename("named1", "named2");
  assert.equal(c.inspect(Id).Name, "/named2");
  assert.throws(() => c.rename("named2", "named2"), /same name/);
  await c.remove("named2", { force: true });
  assert.equal(
    c.list({ all: true }).some((x) => x.Id === Id),
    false,
  );
});

test("a command that does not exist fails the start clearly, with exit code 127", async () => {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["/no/such/binary"] });
  await assert.rejects(c.start(Id), /no such file|not found/i);
  assert.equal((c.inspect(Id).State as { ExitCode: number }).ExitCode, 127);
  await c.remove(Id);
});

test("OOM: a process over its memory limit is killed and recorded as OOMKilled", async () => {
  const events: string[] = [];
  const off = rt.events.subscribe((e) => events.push(e.Action));
  const mib = 1024 * 1024;
  // The shell doubles a string until the 16 MiB limit (no swap) stops it.
  const r = await run("x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done", { HostConfig: { Memory: 16 * mib, MemorySwap: 16 * mib } });
  off();
  const st = c.inspect(r.id).State as { OOMKilled: boolean; ExitCode: number };
  assert.equal(st.OOMKilled, true);
  assert.equal(st.ExitCode, 137);
  assert.ok(events.includes("oom"));
  await c.remove(r.id);
});

// The sleeps in this test are the behaviour under test: no restart comes within a while (longer
// than the restart backoff of 100 ms, doubling) after an exit the policy does not restart.
test("restart policies: no, on-failure:N, always (with stop), unless-stopped", async () => {
  const no = await run("exit 1", { HostConfig: { RestartPolicy: { Name: "no" } } });
  await sleep(500); // no restart comes
  assert.equal((c.inspect(no.id).State as { Status: string }).Status, "exited");
  assert.equal(c.inspect(no.id).RestartCount, 0);

  const { Id: onFailure } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "echo run; exit 2"],
    HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } },
  });
  await c.start(onFailure);
  await waitFor(
    "two restarts",
    () => c.inspect(onFailure).RestartCount === 2 && (c.inspect(onFailure).State as { Status: string }).Status === "exited",
  );
  await sleep(1000); // no third restart comes (the next backoff would be 400 ms)
  assert.equal(c.inspect(onFailure).RestartCount, 2, "no third restart");
  assert.equal((await output(onFailure)).match(/run/g)?.length, 3);

  // on-failure does not restart a clean exit.
  const clean = await run("exit 0", { HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 5 } } });
  await sleep(500); // no restart comes
  assert.equal(c.inspect(clean.id).RestartCount, 0);

  for (const policy of ["always", "unless-stopped"] as const) {
    const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "sleep 0.2"], HostConfig: { RestartPolicy: { Name: policy } } });
    await c.start(Id);
    await waitFor(`${policy}: restarted after clean exits`, () => Number(c.inspect(Id).RestartCount) >= 2);
    await c.stop(Id, 1);
    assert.equal((c.inspect(Id).State as { Status: string }).Status, "exited", `${policy}: stop leaves it exited`);
    const count = c.inspect(Id).RestartCount;
    await sleep(1000); // no restart comes
    assert.equal((c.inspect(Id).State as { Status: string }).Status, "exited", `${policy}: a stopped container stays stopped`);
    assert.equal(c.inspect(Id).RestartCount, count, `${policy}: no restart after the stop`);
    await c.remove(Id);
  }
  // Between restarts a container cannot be removed without force. After its fourth exit (its
  // `die` event) the next run is 800 ms away: the backoff doubles from 100 ms.
  const { Id: crashing } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "exit 1"],
    HostConfig: { RestartPolicy: { Name: "always" } },
  });
  let dies = 0;
  const unsubscribe = rt.events.subscribe((e) => {
    if (e.Actor.ID === crashing && e.Action === "die") dies++;
  });
  try {
    await c.start(crashing);
    await waitFor("the fourth exit", () => dies >= 4, 15_000, 5);
  } finally {
    unsubscribe();
  }
  assert.equal((c.inspect(crashing).State as { Status: string }).Status, "restarting");
  await assert.rejects(
    c.remove(crashing),
    /cannot remove container "\/[^"]+": container is restarting: stop the container before removing/,
  );
  await c.remove(crashing, { force: true });
  assert.throws(() => c.inspect(crashing), /No such container/);

  await c.remove(no.id);
  await c.remove(onFailure);
  await c.remove(clean.id);
});

test("users and groups resolve through the image's /etc/passwd and /etc/group", async () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, "0 0"],
    ["daemon", "1 1"],
    ["nobody:daemon", "65534 1"],
    ["1234:5678", "1234 5678"],
    ["daemon:65534", "1 65534"],
  ];
  for (const [user, want] of cases) {
    const r = await run("echo $(id -u) $(id -g)", user === undefined ? {} : { User: user });
    assert.equal(r.out.trim(), want, `User ${user}`);
    await c.remove(r.id);
  }
  const { Id } = await c.create({ Image: "busybox", User: "nosuchuser", Cmd: ["true"] });
  await assert.rejects(c.start(Id), /unable to find user nosuchuser: no matching entries in passwd file/);
  await c.remove(Id);
  const { Id: g } = await c.create({ Image: "busybox", User: "daemon:nosuchgroup", Cmd: ["true"] });
  await assert.rejects(c.start(g), /unable to find group nosuchgroup/);
  await c.remove(g);
});

/** The RLIMIT_NOFILE hard limit of this process, from /proc/self/limits. */
function ownNofileHardLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  if (!hard) throw new Error(`no "Max open files" line in /proc/self/limits: ${line}`);
  return hard === "unlimited" ? Number.POSITIVE_INFINITY : Number(hard);
}

// Docker's default capability set as ARCHITECTURE.md states it, written out independently of the code.
const DOCKER_DEFAULT_CAPS = [
  "CAP_AUDIT_WRITE",
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_MKNOD",
  "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP",
  "CAP_SETGID",
  "CAP_SETPCAP",
  "CAP_SETUID",
  "CAP_SYS_CHROOT",
];
const CAP_BITS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_RAW: 13,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_ADMIN: 21,
  CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29,
  CAP_SETFCAP: 31,
};
const capMask = (caps: string[]) => caps.reduce((m, cap) => m | (1n << BigInt(CAP_BITS[cap]!)), 0n);

test("default confinement matches Docker: capabilities, masked and read-only paths, seccomp, rlimits", async () => {
  const r = await run(
    [
      "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status",
      "echo keys=$(wc -c < /proc/keys)",
      "echo timerlist=$(wc -c < /proc/timer_list)",
      "ls /sys/firmware | wc -l | sed 's/^/firmware=/'",
      "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo procsys=rw || echo procsys=ro",
      "(mount -t tmpfs none /mnt) 2>/dev/null && echo mount=ok || echo mount=denied",
      "echo nofile=$(ulimit -Sn)",
      "echo nofileHard=$(ulimit -Hn)",
    ].join("; "),
  );
  const status = Object.fromEntries(
    r.out
      .trim()
      .split("\n")
      .map((l) => l.split(/[:=]\s*/) as [string, string]),
  );
  assert.equal(BigInt(`0x${status.CapEff}`), capMask(DOCKER_DEFAULT_CAPS), "effective capabilities are Docker's default set");
  assert.equal(BigInt(`0x${status.CapBnd}`), capMask(DOCKER_DEFAULT_CAPS));
  assert.equal(status.Seccomp, "2", "a seccomp filter is in place");
  assert.equal(status.NoNewPrivs, "0");
  assert.equal(status.keys, "0", "/proc/keys is masked");
  assert.equal(status.timerlist, "0", "/proc/timer_list is masked");
  assert.equal(status.firmware, "0", "/sys/firmware is masked");
  assert.equal(status.procsys, "ro");
  assert.equal(status.mount, "denied");
  // As dockerd: a container gets the agent's own nofile hard limit (this process's: the runtime
  // runs in it), as soft and hard limit both, at most 2^20.
  const nofile = String(Math.min(ownNofileHardLimit(), 1_048_576));
  assert.equal(status.nofile, nofile, "the soft nofile limit is the agent's hard limit");
  assert.equal(status.nofileHard, nofile, "the hard nofile limit is the agent's hard limit");
  await c.remove(r.id);
  // A nofile ulimit within the host's hard limit is set as asked.
  const lowered = await run("echo $(ulimit -Sn) $(ulimit -Hn)", { HostConfig: { Ulimits: [{ Name: "nofile", Soft: 100, Hard: 200 }] } });
  assert.equal(lowered.out, "100 200\n");
  await c.remove(lowered.id);

  // cap-add/cap-drop, no-new-privileges, seccomp=unconfined and privileged change exactly that.
  const r2 = await run("grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status", {
    HostConfig: { CapAdd: ["NET_RAW"], CapDrop: ["CHOWN", "cap_kill"], SecurityOpt: ["no-new-privileges", "seccomp=unconfined"] },
  });
  const s2 = Object.fromEntries(
    r2.out
      .trim()
      .split("\n")
      .map((l) => l.split(/:\s*/) as [string, string]),
  );
  assert.equal(
    BigInt(`0x${s2.CapEff}`),
    capMask([...DOCKER_DEFAULT_CAPS.filter((x) => x !== "CAP_CHOWN" && x !== "CAP_KILL"), "CAP_NET_RAW"]),
  );
  assert.equal(s2.Seccomp, "0");
  assert.equal(s2.NoNewPrivs, "1");
  await c.remove(r2.id);
  const r3 = await run("grep -E '^CapEff:' /proc/self/status; echo keys=$(wc -c < /proc/timer_list)", { HostConfig: { Privileged: true } });
  assert.ok(BigInt(`0x${r3.out.split(/\s+/)[1]}`) & (1n << 21n), "privileged has CAP_SYS_ADMIN");
  assert.doesNotMatch(r3.out, /keys=0\n/, "nothing is masked for a privileged container");
  await c.remove(r3.id);
  await assert.rejects(
    c.create({ Image: "busybox", HostConfig: { Ulimits: [{ Name: "nofile", Soft: 100, Hard: 99_999_999 }] } }),
    /above this host's hard limit/,
  );
  await assert.rejects(c.create({ Image: "busybox", HostConfig: { SecurityOpt: ["bogus"] } }), /invalid --security-opt/);
  await assert.rejects(c.create({ Image: "busybox", HostConfig: { Sysctls: { "kernel.panic": "1" } } }), /not allowed/);
});

test("limits reach the cgroup; update changes them on a running container; Init runs tini as PID 1", async () => {
  const mib = 1024 * 1024;
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sleep", "1000"],
    HostConfig: { Memory: 64 * mib, PidsLimit: 50, NanoCpus: 500_000_000 },
  });
  await c.start(Id);
  const cg = `/sys/fs/cgroup/memory/berth-test-${process.pid}/${Id}/memory.limit_in_bytes`;
  assert.equal(Number(readFileSync(cg, "utf8")), 64 * mib);
  assert.equal(readFileSync(`/sys/fs/cgroup/pids/berth-test-${process.pid}/${Id}/pids.max`, "utf8").trim(), "50");
  assert.equal(readFileSync(`/sys/fs/cgroup/cpu/berth-test-${process.pid}/${Id}/cpu.cfs_quota_us`, "utf8").trim(), "50000");
  await c.update(Id, { Memory: 128 * mib, MemorySwap: 256 * mib });
  assert.equal(Number(readFileSync(cg, "utf8")), 128 * mib);
  assert.equal((c.inspect(Id).HostConfig as { Memory: number }).Memory, 128 * mib);
  await c.remove(Id, { force: true });

  const r = await run("cat /proc/1/cmdline | tr '\\0' ' '", { HostConfig: { Init: true } });
  assert.match(r.out, /^\/sbin\/docker-init -- sh -c/);
  await c.remove(r.id);
});

test("logs: 100,000 lines written fast come back complete and in order; tail, since/until, follow", async () => {
  const r = await run("seq 1 100000");
  assert.equal(r.code, 0);
  let n = 0;
  let ordered = true;
  for await (const e of c.logs(r.id)) {
    n++;
    if (e.line !== `${n}\n`) ordered = false;
  }
  assert.equal(n, 100_000);
  assert.ok(ordered, "every line in order");
  const tail = [];
  for await (const e of c.logs(r.id, { tail: 3 })) tail.push(e.line);
  assert.deepEqual(tail, ["99998\n", "99999\n", "100000\n"]);
  const future = [];
  for await (const e of c.logs(r.id, { since: Date.now() / 1000 + 60 })) future.push(e);
  assert.equal(future.length, 0);
  const past = [];
  for await (const e of c.logs(r.id, { until: Date.now() / 1000 - 3600 })) past.push(e);
  assert.equal(past.length, 0);
  await c.remove(r.id);

  // Follow sees lines as they are written and ends when the container exits.
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done"] });
  await c.start(Id);
  const seen: string[] = [];
  for await (const e of c.logs(Id, { follow: true })) seen.push(e.line.trim());
  assert.deepEqual(seen, ["tick 1", "tick 2", "tick 3", "tick 4", "tick 5"]);
  // A long line (over conmon's buffer) is split into partial records and joined back.
  const long = await run("head -c 40000 /dev/zero | tr '\\0' x; echo");
  assert.equal(long.out, `${"x".repeat(40000)}\n`);
  await c.remove(long.id);
  await c.remove(Id);
});

test("logs rotate by max-size and max-file; following across rotations loses and repeats nothing", async () => {
  await assert.rejects(
    c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { LogConfig: { Type: "json-file", Config: { "max-size": "ten" } } } }),
    /invalid size: 'ten'/,
  );
  await assert.rejects(
    c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { LogConfig: { Type: "json-file", Config: { "max-sise": "1m" } } } }),
    /unknown log opt 'max-sise'/,
  );

  // ~10 MB of log records into files of 256 KiB, 4 kept: the newest survive, contiguous. (A flood
  // passes max-size by what is written while a rotation is under way, so sizes are not asserted.)
  const kept = await run("seq 1 200000", {
    HostConfig: { LogConfig: { Type: "json-file", Config: { "max-size": "256k", "max-file": "4" } } },
  });
  assert.equal(kept.code, 0);
  const files = readdirSync(dirname(c.logPath(kept.id))).filter((f) => f.startsWith("container.log"));
  // Three rotated files (max-file 4); the live one may have been rotated as the container exited.
  assert.deepEqual(files.filter((f) => f !== "container.log").sort(), ["container.log.1", "container.log.2", "container.log.3"]);
  for (const f of files.filter((x) => x !== "container.log"))
    assert.ok(statSync(join(dirname(c.logPath(kept.id)), f)).size >= 256 * 1024, `${f} was rotated at max-size`);
  const raw = kept.out.trimEnd().split("\n");
  const lines = raw.map(Number);
  assert.equal(lines.at(-1), 200_000);
  assert.ok(lines.length > 10_000 && lines.length < 150_000, `kept ${lines.length} lines`);
  // conmon cuts records at its buffer size, so the oldest kept file may begin with the tail of a line whose start was dropped.
  // (The tail can be just the newline, when the split fell right before it: an empty first line.)
  assert.ok(
    String(lines[1]! - 1).endsWith(raw[0]!),
    `the first kept line (${JSON.stringify(raw[0])}) is whole or the tail of the line before ${lines[1]}`,
  );
  assert.ok(
    lines.every((v, i) => i < 2 || v === lines[i - 1]! + 1),
    "the kept lines are contiguous",
  );
  assert.deepEqual((c.inspect(kept.id).HostConfig as { LogConfig: unknown }).LogConfig, {
    Type: "json-file",
    Config: { "max-size": "256k", "max-file": "4" },
  });
  await c.remove(kept.id);

  // A follower that is waiting when the output starts sees every line, in order, across many rotations.
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "sleep 0.5; seq 1 200000"],
    HostConfig: { LogConfig: { Config: { "max-size": "256k", "max-file": "100" } } },
  });
  await c.start(Id);
  const follow = (async () => {
    let n = 0;
    let ordered = true;
    for await (const e of c.logs(Id, { follow: true })) if (e.line !== `${++n}\n`) ordered = false;
    return { n, ordered };
  })();
  const seen = await follow;
  assert.deepEqual(seen, { n: 200_000, ordered: true });
  let again = 0;
  let inOrder = true;
  for await (const e of c.logs(Id)) if (e.line !== `${++again}\n`) inOrder = false;
  assert.deepEqual({ again, inOrder }, { again: 200_000, inOrder: true }, "every rotated file was kept (max-file 100)");
  await c.remove(Id);
});

test("list and inspect in Docker's shape", async () => {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sleep", "1000"], Labels: { team: "a" }, Env: ["FOO=bar"] }, "shape1");
  await c.start(Id);
  const row = c.list().find((x) => x.Id === Id)!;
  assert.deepEqual(row.Names, ["/shape1"]);
  assert.equal(row.State, "running");
  assert.match(String(row.Status), /^Up /);
  assert.equal(row.Command, "sleep 1000");
  assert.deepEqual(row.Labels, { team: "a" });
  const i = c.inspect("shape1");
  for (const k of [
    "Id",
    "Created",
    "Path",
    "Args",
    "State",
    "Image",
    "LogPath",
    "Name",
    "RestartCount",
    "HostConfig",
    "Config",
    "Mounts",
    "NetworkSettings",
  ])
    assert.ok(k in i, k);
  assert.equal(i.Path, "sleep");
  assert.deepEqual(i.Args, ["1000"]);
  assert.ok((i.Config as { Env: string[] }).Env.includes("FOO=bar"));
  assert.ok((i.State as { Pid: number }).Pid > 0);
  assert.equal(c.inspect(Id.slice(0, 12)).Id, Id, "a short ID prefix resolves");
  await c.stop(Id, 1);
  assert.equal(
    c.list().some((x) => x.Id === Id),
    false,
    "list hides stopped containers",
  );
  assert.match(String(c.list({ all: true }).find((x) => x.Id === Id)!.Status), /^Exited \(137\)|^Exited \(143\)/);
  await c.remove(Id);
});
