import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Backoff } from "../src/link/backoff.ts";
import { AGENT_VERSION } from "../src/version.ts";

test("backoff doubles up to the cap, anywhere from a small floor to the ceiling", () => {
  const lo = new Backoff(500, 30_000, () => 0);
  const hi = new Backoff(500, 30_000, () => 1);
  const lows = Array.from({ length: 10 }, () => lo.next());
  const highs = Array.from({ length: 10 }, () => hi.next());
  assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.deepEqual(lows, Array(10).fill(50));
});

test("a thousand agents that lost their process come back spread over the first window, none in a burst", () => {
  const first = Array.from({ length: 1000 }, () => new Backoff().next());
  assert.ok(Math.max(...first) <= 1_500, "all try again within 1.5 s");
  // No 100 ms slice holds more than a fifth of them (evenly spread: a fifteenth).
  const slices = new Map<number, number>();
  for (const d of first) slices.set(Math.floor(d / 100), (slices.get(Math.floor(d / 100)) ?? 0) + 1);
  assert.ok(Math.max(...slices.values()) < 200, JSON.stringify([...slices]));
});

test("reset starts over", () => {
  const b = new Backoff(100, 1000, () => 1);
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
});

test("jitter spreads a fleet: 100 agents do not pick the same delay", () => {
  const delays = new Set(Array.from({ length: 100 }, () => new Backoff(500, 30_000).next() + new Backoff(500, 30_000).next()));
  assert.ok(delays.size > 50);
});

test("AGENT_VERSION matches apps/agent/package.json", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(AGENT_VERSION, pkg.version);
});
