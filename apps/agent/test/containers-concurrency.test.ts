// One change at a time per container, and per name: racing starts make one run, racing creates
// of one name make one container, and racing stops, starts and removes leave a consistent state.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";

let rt: AgentRuntime;
let stateDir: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});
after(() => disposeRuntime(rt, stateDir));

/** conmon processes supervising this container (one per run). */
function conmons(id: string): number {
  const out = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => /(^|\/)conmon /.test(l) && l.includes(id)).length;
}

/** Mounts of the container's root filesystem on this host. */
function rootfsMounts(id: string): number {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(rt.containers.rootfs(id))).length;
}

test("20 concurrent starts of one container: one run, one supervisor, one root mount", async () => {
  const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["sleep", "1000"], Volumes: { "/data": {} } });
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => rt.containers.start(Id)));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results) if (r.status === "rejected") assert.match(String(r.reason), /already running/);
  assert.equal(conmons(Id), 1);
  assert.equal(rootfsMounts(Id), 1);
  const runs = JSON.parse(
    execFileSync(rt.containers.runc.default.binary, ["--root", rt.containers.runc.default.root, "list", "--format", "json"], {
      encoding: "utf8",
    }) || "[]",
  ) as Array<{ id: string; status: string }>;
  assert.deepEqual(
    runs.filter((r) => r.id === Id).map((r) => r.status),
    ["running"],
  );
  assert.equal((rt.containers.inspect(Id).Mounts as unknown[]).length, 1, "one anonymous volume, not one per start");

  // Stops, starts and a restart racing each other end in one consistent state, with one supervisor at most.
  const mixed = await Promise.allSettled([
    ...Array.from({ length: 5 }, () => rt.containers.stop(Id, 1)),
    ...Array.from({ length: 5 }, () => rt.containers.start(Id)),
    rt.containers.restart(Id, 1),
  ]);
  assert.ok(mixed.some((r) => r.status === "fulfilled"));
  const running = rt.containers.inspect(Id).State as { Running: boolean; Pid: number };
  assert.equal(conmons(Id), running.Running ? 1 : 0);
  assert.equal(rootfsMounts(Id), running.Running ? 1 : 0);
  // Removes racing each other: removed once, the rest find nothing left to do or no container.
  const removals = await Promise.allSettled(Array.from({ length: 5 }, () => rt.containers.remove(Id, { force: true })));
  assert.ok(removals.some((r) => r.status === "fulfilled"));
  for (const r of removals) if (r.status === "rejected") assert.match(String(r.reason), /No such container/);
  assert.equal(rt.containers.store.get(Id), undefined);
  assert.equal(conmons(Id), 0);
  assert.equal(rootfsMounts(Id), 0);
});

test("20 concurrent creates of one name: one container, 19 conflicts", async () => {
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => rt.containers.create({ Image: "busybox", Cmd: ["true"] }, "only-one")),
  );
  const made = results.filter((r): r is PromiseFulfilledResult<{ Id: string; Warnings: string[] }> => r.status === "fulfilled");
  assert.equal(made.length, 1);
  const conflicts = results.filter((r) => r.status === "rejected");
  assert.equal(conflicts.length, 19);
  for (const r of conflicts)
    assert.match(String((r as PromiseRejectedResult).reason), /Conflict\. The container name "\/only-one" is (already in use|being used)/);
  assert.equal(rt.containers.store.all().filter((r) => r.name === "only-one").length, 1);
  await rt.containers.remove(made[0]!.value.Id);
});
