// Health checks with real probes (runc exec): starting → healthy → unhealthy, the start period,
// timeouts, NONE, and the health_status events.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
const ms = 1_000_000;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});

after(() => disposeRuntime(rt, stateDir));

type Health = { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> };
const health = (id: string) => (rt.containers.inspect(id).State as { Health?: Health }).Health;

const until = (what: string, fn: () => boolean) => waitFor(what, fn, 15_000, 50);

test("starting → healthy → unhealthy after `retries` failures, with events and a probe log", async () => {
  const events: string[] = [];
  const off = rt.events.subscribe((e) => events.push(e.Action));
  // The start period covers the probes that fail before /tmp/ok exists: without it, two quick
  // failures make the container unhealthy before it is ever healthy (Docker does the same), and
  // how many probes fit in that half second depends on the machine.
  const { Id } = await rt.containers.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "sleep 0.5; touch /tmp/ok; sleep 100000"],
    Healthcheck: {
      Test: ["CMD-SHELL", "test -f /tmp/ok && echo fine"],
      Interval: 200 * ms,
      Timeout: 2000 * ms,
      Retries: 2,
      StartPeriod: 60_000 * ms,
    },
  });
  await rt.containers.start(Id);
  assert.equal(health(Id)?.Status, "starting");
  assert.match(String(rt.containers.list().find((c) => c.Id === Id)?.Status), /\(health: starting\)/);
  await until("healthy", () => health(Id)?.Status === "healthy");
  assert.equal(health(Id)!.Log.at(-1)!.Output, "fine\n");
  assert.match(String(rt.containers.list().find((c) => c.Id === Id)?.Status), /\(healthy\)/);

  const { Id: rm } = rt.execs.create(Id, { Cmd: ["rm", "/tmp/ok"] });
  await (await rt.execs.start(rm)).exit;
  await until("unhealthy", () => health(Id)?.Status === "unhealthy");
  const h = health(Id)!;
  assert.ok(h.FailingStreak >= 2);
  assert.equal(h.Log.at(-1)!.ExitCode, 1);
  assert.ok(h.Log.length <= 5, "the probe log keeps the last five");
  off();
  // Failures after the first success count even inside the start period, as in Docker.
  assert.deepEqual(
    events.filter((a) => a.startsWith("health_status")),
    ["health_status: healthy", "health_status: unhealthy"],
  );
  await rt.containers.remove(Id, { force: true });
});

test("failures inside the start period do not count; a timeout is a failure", async () => {
  const { Id } = await rt.containers.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "sleep 1.2; touch /tmp/ok; sleep 100000"],
    Healthcheck: { Test: ["CMD", "test", "-f", "/tmp/ok"], Interval: 150 * ms, Retries: 1, StartPeriod: 3000 * ms },
  });
  await rt.containers.start(Id);
  await until("two failed probes", () => (health(Id)?.Log.filter((l) => l.ExitCode !== 0).length ?? 0) >= 2);
  assert.equal(health(Id)?.Status, "starting", "still starting despite failed probes");
  await until("healthy", () => health(Id)?.Status === "healthy");
  await rt.containers.remove(Id, { force: true });

  const { Id: slow } = await rt.containers.create({
    Image: "busybox",
    Cmd: ["sleep", "100000"],
    Healthcheck: { Test: ["CMD", "sleep", "10"], Interval: 100 * ms, Timeout: 300 * ms, Retries: 1 },
  });
  await rt.containers.start(slow);
  await until("unhealthy by timeout", () => health(slow)?.Status === "unhealthy");
  assert.match(health(slow)!.Log.at(-1)!.Output, /exceeded timeout/);
  assert.equal(health(slow)!.Log.at(-1)!.ExitCode, -1);
  await rt.containers.remove(slow, { force: true });
});

test("NONE disables a health check; containers without one have no Health", async () => {
  const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["sleep", "100000"], Healthcheck: { Test: ["NONE"] } });
  await rt.containers.start(Id);
  // A container with a health check is "starting" as soon as it started (see the first test).
  assert.equal(health(Id), undefined);
  assert.equal((rt.containers.inspect(Id).Config as { Healthcheck?: unknown }).Healthcheck, undefined);
  await rt.containers.remove(Id, { force: true });
});
