// Containers through the control plane: tRPC procedures relayed to a real agent process (runc +
// conmon), Docker's error messages coming back as API errors, and roles enforced on the server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestControlPlane, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { linkAgent, type TestAgent } from "@berth/test-support/agent";
import { waitFor } from "@berth/test-support/wait";

let t: TestControlPlane;
let mirror: TestRegistry;
let agent: TestAgent | null = null;
let owner: UserClient;
let viewer: UserClient;
let hostId: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-ctr-api-"));

before(async () => {
  mirror = await startRegistry();
  await seedBusybox(mirror, tmp);
  t = await startTestControlPlane();
  owner = await t.signUp("ctr-owner@example.com");
  viewer = await t.signUp("ctr-viewer@example.com");
  ({ agent, hostId } = await linkAgent(t, owner, { stateDir: join(tmp, "agent"), name: "runner", registryMirror: mirror.url }));
  await t.cp.gateway.command(hostId, "images.pull", { reference: "busybox", registry: null }, { timeoutMs: 60_000 });
});

after(async () => {
  await agent?.stop();
  await t?.close();
  await mirror?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("run, list, logs, inspect, top, stats, stop, start, remove through tRPC", { timeout: 60_000 }, async () => {
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    name: "api1",
    config: { Image: "busybox", Cmd: ["sh", "-c", "echo ready; echo warn >&2; sleep 3600"], HostConfig: { Memory: 64 * 1024 * 1024 } },
  });
  const row = (await owner.trpc.containers.list.query({ hostId })).find((c) => c.Id === Id);
  assert.equal(row?.State, "running");
  assert.deepEqual(row?.Names, ["/api1"]);
  const logs = await waitFor("logs", async () => {
    const l = await owner.trpc.containers.logs.query({ hostId, id: "api1" });
    return l.length >= 2 ? l : null;
  });
  assert.deepEqual(
    logs.map((l) => [l.stream, l.line]),
    [
      ["stdout", "ready\n"],
      ["stderr", "warn\n"],
    ],
  );
  const inspect = await viewer.trpc.containers.inspect.query({ hostId, id: "api1" });
  assert.equal((inspect.HostConfig as { Memory: number }).Memory, 64 * 1024 * 1024);
  const top = await owner.trpc.containers.top.query({ hostId, id: "api1" });
  assert.deepEqual(top.Titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
  assert.ok(
    top.Processes.some((p) => p[7]!.startsWith("sleep 3600")),
    JSON.stringify(top.Processes),
  );
  const stats = (await owner.trpc.containers.stats.query({ hostId, id: "api1" })) as {
    memory_stats: { usage: number; limit: number };
    pids_stats: { current: number };
    cpu_stats: { cpu_usage: { total_usage: number } };
  };
  assert.equal(stats.memory_stats.limit, 64 * 1024 * 1024);
  assert.ok(stats.memory_stats.usage > 0);
  assert.ok(stats.pids_stats.current >= 1);
  assert.ok(stats.cpu_stats.cpu_usage.total_usage > 0);

  await owner.trpc.containers.stop.mutate({ hostId, id: Id, timeout: 1 });
  assert.equal(((await owner.trpc.containers.inspect.query({ hostId, id: Id })).State as { Status: string }).Status, "exited");
  await owner.trpc.containers.start.mutate({ hostId, id: Id });
  assert.equal(((await owner.trpc.containers.inspect.query({ hostId, id: Id })).State as { Status: string }).Status, "running");
  const running = await trpcError(owner.trpc.containers.remove.mutate({ hostId, id: Id }));
  assert.equal(running.code, "CONFLICT");
  assert.match(running.message, /container is running/);
  await owner.trpc.containers.remove.mutate({ hostId, id: Id, force: true });
  assert.equal(
    (await owner.trpc.containers.list.query({ hostId })).some((c) => c.Id === Id),
    false,
  );
});

test("log options: the bundled agent rotates by max-size and keeps max-file files", { timeout: 60_000 }, async () => {
  // 3,000 records of ~45 bytes, in batches of 100, into 16 KiB files, 3 kept: the newest lines only, contiguous.
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    config: {
      Image: "busybox",
      Cmd: ["sh", "-c", "for j in $(seq 0 29); do seq $((j*100+1)) $((j*100+100)); sleep 0.05; done"],
      HostConfig: { LogConfig: { Type: "json-file", Config: { "max-size": "16k", "max-file": "3" } } },
    },
  });
  await waitFor(
    "the container to exit",
    async () => ((await owner.trpc.containers.inspect.query({ hostId, id: Id })).State as { Status: string }).Status === "exited" || null,
  );
  const logs = await owner.trpc.containers.logs.query({ hostId, id: Id, tail: 10_000 });
  const nums = logs.map((l) => Number(l.line));
  assert.equal(nums.at(-1), 3000);
  assert.ok(nums.length > 300 && nums.length < 2000, `kept ${nums.length} of 3000 lines`);
  assert.ok(
    nums.every((v, i) => i === 0 || v === nums[i - 1]! + 1),
    "contiguous",
  );
  const bad = await trpcError(
    owner.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { LogConfig: { Type: "syslog" } } } }),
  );
  assert.equal(bad.code, "BAD_REQUEST");
  assert.match(bad.message, /log driver syslog is not supported by Berth/);
  await owner.trpc.containers.remove.mutate({ hostId, id: Id });
});

test("Docker's errors come back as clear API errors; bad input is refused before the agent", async () => {
  const missing = await trpcError(owner.trpc.containers.inspect.query({ hostId, id: "nope" }));
  assert.deepEqual(missing, { code: "NOT_FOUND", message: "No such container: nope" });
  const noImage = await trpcError(owner.trpc.containers.run.mutate({ hostId, config: { Image: "never-pulled:v9" } }));
  assert.equal(noImage.code, "NOT_FOUND");
  assert.match(noImage.message, /No such image: never-pulled:v9/);
  await owner.trpc.containers.create.mutate({ hostId, name: "taken", config: { Image: "busybox" } });
  const dup = await trpcError(owner.trpc.containers.create.mutate({ hostId, name: "taken", config: { Image: "busybox" } }));
  assert.equal(dup.code, "CONFLICT");
  assert.match(dup.message, /The container name "\/taken" is already in use/);
  const limits = await trpcError(owner.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { Memory: 5 } } }));
  assert.equal(limits.code, "BAD_REQUEST");
  const absurd = await trpcError(owner.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { Memory: -1 } } }));
  assert.equal(absurd.code, "BAD_REQUEST");
  await owner.trpc.containers.remove.mutate({ hostId, id: "taken" });
});

test("volumes through tRPC: create, mount, in use, remove; viewers only read", { timeout: 60_000 }, async () => {
  const vol = await owner.trpc.volumes.create.mutate({ hostId, name: "api-data", labels: { app: "web" } });
  assert.equal(vol.Name, "api-data");
  const { Id } = await owner.trpc.containers.run.mutate({
    hostId,
    config: { Image: "busybox", Cmd: ["sh", "-c", "echo kept > /data/f"], HostConfig: { Binds: ["api-data:/data"] } },
  });
  const listed = (await viewer.trpc.volumes.list.query({ hostId })).find((v) => v.Name === "api-data");
  assert.deepEqual(listed?.UsedBy, [Id]);
  assert.deepEqual(listed?.Labels, { app: "web" });
  const inUse = await trpcError(owner.trpc.volumes.remove.mutate({ hostId, name: "api-data" }));
  assert.equal(inUse.code, "CONFLICT");
  assert.equal(inUse.message, `remove api-data: volume is in use - [${Id}]`);
  assert.equal((await trpcError(viewer.trpc.volumes.create.mutate({ hostId, name: "nope" }))).code, "FORBIDDEN");
  assert.equal(
    (
      await trpcError(
        owner.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { Binds: ["api-data:/d:bogus"] } } }),
      )
    ).message,
    "invalid mode: bogus",
  );
  await waitFor(
    "the container to exit",
    async () => ((await owner.trpc.containers.inspect.query({ hostId, id: Id })).State as { Status: string }).Status === "exited" || null,
  );
  await owner.trpc.containers.remove.mutate({ hostId, id: Id });
  await owner.trpc.volumes.remove.mutate({ hostId, name: "api-data" });
  assert.equal((await trpcError(owner.trpc.volumes.inspect.query({ hostId, name: "api-data" }))).code, "NOT_FOUND");
});

test("networks through tRPC reach the agent; this one runs without bridge networking and says so", async () => {
  const off = await trpcError(viewer.trpc.networks.list.query({ hostId }));
  assert.equal(off.code, "BAD_REQUEST");
  assert.match(off.message, /bridge networking is not enabled on this agent/);
  assert.equal((await trpcError(viewer.trpc.networks.create.mutate({ hostId, name: "n1" }))).code, "FORBIDDEN");
});

test("viewers read containers but never change them", async () => {
  assert.ok(Array.isArray(await viewer.trpc.containers.list.query({ hostId })));
  for (const call of [
    () => viewer.trpc.containers.run.mutate({ hostId, config: { Image: "busybox" } }),
    () => viewer.trpc.containers.create.mutate({ hostId, config: { Image: "busybox" } }),
    () => viewer.trpc.containers.stop.mutate({ hostId, id: "x" }),
    () => viewer.trpc.containers.remove.mutate({ hostId, id: "x", force: true }),
    () => viewer.trpc.containers.kill.mutate({ hostId, id: "x" }),
  ]) {
    assert.equal((await trpcError(call())).code, "FORBIDDEN");
  }
});
