// stats from the container's cgroups (v1 here, v2 where the host has it): one-shot and streaming.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});

after(() => disposeRuntime(rt, stateDir));

test("one-shot stats: memory usage and limit, pids, CPU, block I/O shape", async () => {
  const c = rt.containers;
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    HostConfig: { Memory: 96 * 1024 * 1024, PidsLimit: 50 },
  });
  await c.start(Id);
  // The shell forks its two sleeps just after the start.
  let pids: number | undefined;
  const s = await waitFor("sh and its two sleeps running", async () => {
    const x = await c.stats(Id);
    pids = x.pids_stats.current;
    return pids === 3 ? x : null;
  }).catch((e: unknown) => assert.fail(`${String(e)}: pids_stats.current is ${pids}, not 3 (sh and two sleeps)`));
  assert.equal(s.id, Id);
  assert.equal(s.memory_stats.limit, 96 * 1024 * 1024);
  assert.ok((s.memory_stats.usage ?? 0) > 0, "memory in use");
  assert.ok(s.memory_stats.stats && Object.keys(s.memory_stats.stats).length > 5, "the cgroup's memory.stat");
  assert.equal(s.pids_stats.limit, 50);
  assert.ok(s.cpu_stats.cpu_usage.total_usage > 0);
  assert.ok(s.cpu_stats.system_cpu_usage > 0);
  assert.deepEqual(s.precpu_stats, {}, "a one-shot sample has no previous one");
  assert.ok(s.blkio_stats.io_service_bytes_recursive === null || Array.isArray(s.blkio_stats.io_service_bytes_recursive));
  assert.deepEqual(s.networks ?? {}, {}, "a container with loopback only has no interface to report");
  await c.remove(Id, { force: true });
});

test(
  "streaming stats: a sample at once and then each second, each carrying the previous CPU figures; " + "a busy container's CPU share",
  async () => {
    const c = rt.containers;
    const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "while :; do :; done"] });
    await c.start(Id);
    const ac = new AbortController();
    const samples = [];
    const t0 = Date.now();
    for await (const s of c.statsStream(Id, { signal: ac.signal })) {
      samples.push(s);
      if (samples.length === 3) ac.abort();
    }
    const took = Date.now() - t0;
    assert.equal(samples.length, 3);
    assert.ok(took >= 900 && took < 4000, `the first sample at once, then one each second (${took} ms for three)`);
    for (let i = 1; i < 3; i++) {
      assert.deepEqual(samples[i]!.precpu_stats, samples[i - 1]!.cpu_stats);
      assert.equal(samples[i]!.preread, samples[i - 1]!.read);
    }
    // Docker's CPU %: the container's CPU time over the host's, times the CPUs.
    const [a, b] = [samples[1]!, samples[2]!];
    const share =
      (b.cpu_stats.cpu_usage.total_usage - a.cpu_stats.cpu_usage.total_usage) /
      (b.cpu_stats.system_cpu_usage - a.cpu_stats.system_cpu_usage);
    assert.ok(
      share * b.cpu_stats.online_cpus > 0.3,
      `a spinning shell uses a good part of a CPU (${(share * b.cpu_stats.online_cpus * 100).toFixed(0)}%)`,
    );
    await c.remove(Id, { force: true });
    // The stream of a removed container ends.
    const { Id: gone } = await c.create({ Image: "busybox", Cmd: ["true"] });
    const stream = c.statsStream(gone);
    assert.ok((await stream.next()).value);
    await c.remove(gone);
    assert.equal((await stream.next()).done, true);
  },
);

test(
  "one sampler: the control plane's report takes the round a stream just had; " +
    "a request without streaming takes it as its previous sample",
  async () => {
    const c = rt.containers;
    const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", "while :; do :; done"] });
    await c.start(Id);
    const ac = new AbortController();
    const stream = c.statsStream(Id, { signal: ac.signal });
    await stream.next(); // the sample at once (its own read)
    const ticked = (await stream.next()).value!; // a round of the sampler
    const report = c.statsCounters();
    const mine = report.containers.find(([id]) => id === Id)!;
    assert.equal(mine[1], ticked.cpu_stats.cpu_usage.total_usage, "the report reused the round: no second read of the cgroup");
    assert.ok(Math.abs(report.at - Date.parse(ticked.read)) < 50, "the report carries the round's time");

    const last = c.lastStats(Id)!;
    assert.equal(last.sample.cpu_stats.cpu_usage.total_usage, ticked.cpu_stats.cpu_usage.total_usage);
    // Time for the shell to use some CPU after the round (the API waits 100 ms for the same reason).
    await new Promise((r) => setTimeout(r, 150));
    const now = await c.stats(Id, last.sample);
    assert.deepEqual(now.precpu_stats, last.sample.cpu_stats, "the round is the previous sample");
    assert.ok(now.cpu_stats.cpu_usage.total_usage > now.precpu_stats.cpu_usage!.total_usage, "a spinning shell used CPU since");
    ac.abort();
    await stream.next();
    await c.remove(Id, { force: true });
    assert.equal(
      c.statsCounters().containers.some(([id]) => id === Id),
      false,
      "a removed container leaves the rounds",
    );
  },
);
