// Join tokens and host credentials against a real Postgres.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDb, type Db } from "@berth/db";
import {
  createJoinToken,
  ensureDefaultTeam,
  JoinTokenError,
  listJoinTokens,
  redeemJoinToken,
  revokeHostCredentials,
  revokeJoinToken,
  verifyHostCredential,
} from "../src/index.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { fakeFacts } from "@berth/test-support/facts";

let database: TestDatabase;
let db: Db;
let teamId: string;

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  teamId = (await ensureDefaultTeam(db)).id;
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

const redeem = (token: string, name = "h") =>
  redeemJoinToken(db, { token, name, agentVersion: "0.1.0", facts: fakeFacts(name), remoteAddr: "127.0.0.1", fingerprint: null });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof JoinTokenError, `expected JoinTokenError, got ${String(e)}`);
    return e.reason;
  }
  assert.fail("the token was accepted");
}

test("a token is shown once and stored only as a hash", async () => {
  const { token, record } = await createJoinToken(db, { teamId, fingerprint: null });
  const secret = token.split("-").at(-1)!;
  const row = await db.joinToken.findUniqueOrThrow({ where: { id: record.id } });
  assert.notEqual(row.secretHash, secret);
  assert.equal(row.secretHash.length, 64);
  assert.equal(JSON.stringify(row).includes(secret), false);
  const listed = await listJoinTokens(db, [teamId]);
  assert.equal(JSON.stringify(listed).includes(secret), false);
  assert.equal(listed.find((t) => t.id === record.id)?.state, "active");
});

test("redeeming creates a host and a credential that verifies; the credential is stored hashed", async () => {
  const { token } = await createJoinToken(db, { teamId, fingerprint: null });
  const joined = await redeem(token, "web-1");
  assert.equal(joined.name, "web-1");
  const check = await verifyHostCredential(db, joined.credential);
  assert.deepEqual(check.ok && check.hostId, joined.hostId);
  const creds = await db.hostCredential.findMany({ where: { hostId: joined.hostId } });
  assert.equal(creds.length, 1);
  assert.equal(joined.credential.includes(creds[0]!.secretHash), false);
  const host = await db.host.findUniqueOrThrow({ where: { id: joined.hostId } });
  assert.equal(host.status, "pending");
});

test("a new join token joins one host unless told otherwise", async () => {
  const { token, record } = await createJoinToken(db, { teamId, fingerprint: null });
  assert.equal(record.maxUses, 1);
  await redeem(token, "single");
  assert.equal(await refusal(redeem(token, "another")), "exhausted");
  const unlimited = await createJoinToken(db, { teamId, fingerprint: null, maxUses: null });
  assert.equal(unlimited.record.maxUses, null);
});

test("a second host with the same name gets a suffix", async () => {
  const { token } = await createJoinToken(db, { teamId, fingerprint: null, maxUses: 2 });
  const a = await redeem(token, "dup");
  const b = await redeem(token, "dup");
  assert.equal(a.name, "dup");
  assert.equal(b.name, "dup-2");
});

test("wrong, malformed, expired, revoked and over-used tokens are refused with their reason", async () => {
  const good = await createJoinToken(db, { teamId, fingerprint: null });
  const wrong = `${good.token.slice(0, -4)}0000`;
  assert.equal(await refusal(redeem(wrong)), "unknown");
  assert.equal(await refusal(redeem("BERTH-1-insecure-x")), "malformed");
  assert.equal(await refusal(redeem(good.token.replace("insecure", "f".repeat(64)))), "fingerprint");

  const expiring = await createJoinToken(db, { teamId, fingerprint: null, expiresInSeconds: 60 });
  await db.joinToken.update({ where: { id: expiring.record.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
  assert.equal(await refusal(redeem(expiring.token)), "expired");

  const revoked = await createJoinToken(db, { teamId, fingerprint: null });
  await revokeJoinToken(db, revoked.record.id);
  assert.equal(await refusal(redeem(revoked.token)), "revoked");

  const once = await createJoinToken(db, { teamId, fingerprint: null, maxUses: 1 });
  await redeem(once.token, "once");
  assert.equal(await refusal(redeem(once.token, "twice")), "exhausted");
  assert.equal((await db.joinToken.findUniqueOrThrow({ where: { id: once.record.id } })).uses, 1);
});

test("agents racing for the last use: exactly one wins", async () => {
  const { token, record } = await createJoinToken(db, { teamId, fingerprint: null, maxUses: 3 });
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => redeem(token, `race-${i}`)));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 3);
  assert.equal((await db.joinToken.findUniqueOrThrow({ where: { id: record.id } })).uses, 3);
  assert.equal(await db.host.count({ where: { joinTokenId: record.id } }), 3);
});

test("a revoked credential no longer verifies; garbage never does", async () => {
  const { token } = await createJoinToken(db, { teamId, fingerprint: null });
  const joined = await redeem(token, "revokee");
  assert.equal(await revokeHostCredentials(db, joined.hostId), 1);
  assert.deepEqual(await verifyHostCredential(db, joined.credential), { ok: false, reason: "revoked" });
  assert.deepEqual(await verifyHostCredential(db, "nope"), { ok: false, reason: "malformed" });
  const [id] = joined.credential.split(".");
  assert.deepEqual(await verifyHostCredential(db, `${id}.${"0".repeat(64)}`), { ok: false, reason: "unknown" });
});
