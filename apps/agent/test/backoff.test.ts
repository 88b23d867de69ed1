import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Backoff } from "../src/link/backoff.ts";
import { AGENT_VERSION } from "../src/version.ts";

test("backoff doubles up to the cap, within [ceiling/2, ceiling]", () => {
  const lo = new Backoff(500, 30_000, () => 0);
  const hi = new Backoff(500, 30_000, () => 1);
  const lows = Array.from({ length: 10 }, () => lo.next());
  const highs = Array.from({ length: 10 }, () => hi.next());
  assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.deepEqual(
    lows,
    highs.map((h) => h / 2),
  );
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
