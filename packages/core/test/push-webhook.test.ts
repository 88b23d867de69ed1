import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { pushMoves, readPush, verifyPush } from "../src/stacks/push-webhook.ts";

const secret = "s3cret";
const body = Buffer.from(JSON.stringify({ ref: "refs/heads/main", after: "abc" }));
const hex = (s: string, b: Buffer) => createHmac("sha256", s).update(b).digest("hex");

test("GitHub's, Gitea's and GitLab's signatures are checked against the stack's secret", () => {
  assert.deepEqual(verifyPush({ "x-hub-signature-256": `sha256=${hex(secret, body)}` }, body, secret), { ok: true, provider: "github" });
  assert.deepEqual(verifyPush({ "x-gitea-signature": hex(secret, body) }, body, secret), { ok: true, provider: "gitea" });
  assert.deepEqual(verifyPush({ "x-forgejo-signature": hex(secret, body) }, body, secret), { ok: true, provider: "gitea" });
  assert.deepEqual(verifyPush({ "x-gitlab-token": secret }, body, secret), { ok: true, provider: "gitlab" });
});

test("a wrong key, a changed body, a malformed header or none at all is refused", () => {
  assert.equal(verifyPush({ "x-hub-signature-256": `sha256=${hex("other", body)}` }, body, secret).ok, false);
  const changed = Buffer.from(body.toString().replace("main", "dev"));
  assert.equal(verifyPush({ "x-hub-signature-256": `sha256=${hex(secret, body)}` }, changed, secret).ok, false);
  assert.equal(verifyPush({ "x-hub-signature-256": hex(secret, body) }, body, secret).ok, false, "without sha256=");
  assert.equal(verifyPush({ "x-gitea-signature": "zz" }, body, secret).ok, false);
  assert.equal(verifyPush({ "x-gitlab-token": `${secret}x` }, body, secret).ok, false);
  assert.equal(verifyPush({ "x-gitlab-token": "" }, body, secret).ok, false);
  const none = verifyPush({}, body, secret);
  assert.equal(none.ok, false);
  assert.match(!none.ok ? none.reason : "", /no X-Hub-Signature-256/);
});

test("a delivery's kind and ref are read; a body that is not JSON is refused", () => {
  assert.deepEqual(readPush({ "x-github-event": "push" }, body), { kind: "push", ref: "refs/heads/main", after: "abc" });
  assert.equal(readPush({ "x-gitlab-event": "Push Hook" }, body)?.kind, "push");
  assert.equal(readPush({ "x-github-event": "ping" }, Buffer.from("{}"))?.kind, "ping");
  assert.equal(readPush({ "x-github-event": "issues" }, body)?.kind, "other");
  assert.equal(readPush({}, Buffer.from("ref=main")), null);
});

test("a push moves a stack that follows its branch or tag", () => {
  assert.ok(pushMoves("main", "refs/heads/main"));
  assert.ok(pushMoves("v1", "refs/tags/v1"));
  assert.ok(pushMoves("refs/heads/main", "refs/heads/main"));
  assert.ok(!pushMoves("main", "refs/heads/dev"));
  assert.ok(!pushMoves("main", "refs/heads/main-old"));
  assert.ok(pushMoves("main", null), "no ref given: read and compare");
});
