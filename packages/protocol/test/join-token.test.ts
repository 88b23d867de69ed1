import { test } from "node:test";
import assert from "node:assert/strict";
import { formatJoinToken, JoinTokenFormatError, parseJoinToken } from "../src/index.ts";

const secret = "a".repeat(48);
const fp = "0123456789abcdef".repeat(4);

test("insecure and pinned tokens round-trip", () => {
  assert.deepEqual(parseJoinToken(formatJoinToken(null, secret)), { fingerprint: null, secret });
  assert.deepEqual(parseJoinToken(formatJoinToken(fp, secret)), { fingerprint: fp, secret });
  assert.equal(formatJoinToken(null, secret), `BERTH-1-insecure-${secret}`);
});

test("surrounding whitespace from a paste is ignored", () => {
  assert.equal(parseJoinToken(`  BERTH-1-insecure-${secret}\n`).secret, secret);
});

test("malformed tokens are refused with a clear message", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /must start with BERTH-1-/],
    ["SWMTKN-1-abc", /must start with BERTH-1-/],
    ["BERTH-1-insecure", /no secret part/],
    [`BERTH-1-nothex-${secret}`, /fingerprint must be/],
    ["BERTH-1-insecure-short", /secret is malformed/],
    [`BERTH-1-insecure-${secret};rm -rf /`, /secret is malformed/],
    [`BERTH-2-insecure-${secret}`, /must start with BERTH-1-/],
  ];
  for (const [token, msg] of cases) {
    assert.throws(
      () => parseJoinToken(token),
      (e: unknown) => e instanceof JoinTokenFormatError && msg.test(e.message),
      token,
    );
  }
});
