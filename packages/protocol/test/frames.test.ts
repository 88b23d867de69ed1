import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAgentFrame, parseServerFrame, type HostFacts } from "../src/index.ts";

const sampleFacts: HostFacts = {
  hostname: "h1",
  os: { id: "debian", name: "Debian GNU/Linux", version: "12", prettyName: "Debian GNU/Linux 12 (bookworm)" },
  kernel: "6.1.0",
  arch: "amd64",
  cpus: 2,
  memoryBytes: 2 ** 30,
  disk: { path: "/var/lib/berth", totalBytes: 10 * 2 ** 30, freeBytes: 5 * 2 ** 30 },
  addresses: [{ iface: "eth0", family: "IPv4", address: "10.0.0.2" }],
  versions: { runc: "1.1.5", conmon: "2.1.6", nft: null },
};

test("a hello frame with facts parses", () => {
  const r = parseAgentFrame(JSON.stringify({ type: "hello", v: 1, agentVersion: "0.1.0", facts: sampleFacts }));
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.frame.type, "hello");
});

test("heartbeat, facts and reply frames parse", () => {
  for (const f of [
    { type: "heartbeat", at: 1 },
    { type: "facts", facts: sampleFacts },
    { type: "reply", id: "abc", ok: true, result: { pong: true } },
    { type: "reply", id: "abc", ok: false, error: { code: "X", message: "boom" } },
  ]) {
    const r = parseAgentFrame(JSON.stringify(f));
    assert.equal(r.ok, true, JSON.stringify(f));
  }
});

test("text that is not JSON is refused with a reason", () => {
  const r = parseAgentFrame("{not json");
  assert.deepEqual(r, { ok: false, reason: "frame is not valid JSON" });
});

test("an unknown frame type is refused", () => {
  const r = parseAgentFrame(JSON.stringify({ type: "rm -rf", v: 1 }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /invalid frame at type/);
});

test("a hello with the wrong protocol version is refused", () => {
  const r = parseAgentFrame(JSON.stringify({ type: "hello", v: 2, agentVersion: "0.1.0", facts: sampleFacts }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /at v/);
});

test("facts with the wrong types are refused, naming the field", () => {
  const r = parseAgentFrame(JSON.stringify({ type: "facts", facts: { ...sampleFacts, cpus: "two" } }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /facts\.cpus/);
});

test("a negative heartbeat time is refused", () => {
  assert.equal(parseAgentFrame(JSON.stringify({ type: "heartbeat", at: -5 })).ok, false);
});

test("server frames: welcome and command parse, others do not", () => {
  assert.equal(parseServerFrame(JSON.stringify({ type: "welcome", v: 1, hostId: "h", heartbeatMs: 5000 })).ok, true);
  assert.equal(parseServerFrame(JSON.stringify({ type: "command", id: "1", command: "ping", args: {} })).ok, true);
  assert.equal(parseServerFrame(JSON.stringify({ type: "welcome", v: 1, hostId: "h", heartbeatMs: 0 })).ok, false);
  assert.equal(parseServerFrame("[]").ok, false);
});

test("sizes are bytes of encoded JSON: control characters count six, CJK three, and a cut never exceeds its budget", async () => {
  const { cutToJsonBytes, encodedBytes, jsonStringBytes } = await import("../src/index.ts");
  assert.equal(jsonStringBytes("\u0001".repeat(10)), 60);
  assert.equal(jsonStringBytes("中".repeat(10)), 30);
  assert.equal(jsonStringBytes('a"\\\n'), 7);
  assert.equal(encodedBytes({ a: "é" }), 10);
  for (const [text, budget] of [
    ["\u0001".repeat(100_000), 65_536],
    ["中".repeat(100_000), 65_536],
    ["😀".repeat(50_000), 1001],
    ['ab\u0002"c\u00e9中😀'.repeat(9_000), 4096],
  ] as const) {
    const { text: kept, cut } = cutToJsonBytes(text, budget);
    assert.ok(jsonStringBytes(kept) <= budget, `${jsonStringBytes(kept)} <= ${budget}`);
    assert.ok(jsonStringBytes(text.slice(0, kept.length + 2)) > budget, "as much as fits");
    assert.equal(kept.length + cut, text.length);
    assert.ok(!/[\ud800-\udbff]$/.test(kept), "no half of a surrogate pair");
  }
  assert.deepEqual(cutToJsonBytes("short", 100), { text: "short", cut: 0 });
});
