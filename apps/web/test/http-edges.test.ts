// The control plane's non-tRPC endpoints: agent join, install script, agent bundle.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";

let t: TestControlPlane;
before(async () => {
  t = await startTestControlPlane();
});
after(async () => {
  await t.close();
});

const join = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/agent/join`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

test("join: bad JSON, missing fields, a huge body and a wrong method get clear 4xx errors", async () => {
  let r = await join("{nope");
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { error: "join request is not valid JSON" });

  r = await join(JSON.stringify({ token: `BERTH-1-insecure-${"a".repeat(48)}` }));
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: string }).error, /invalid join request at name/);

  r = await join(JSON.stringify({ pad: "x".repeat(300 * 1024) }));
  assert.equal(r.status, 413);

  r = await fetch(`${t.url}/agent/join`);
  assert.equal(r.status, 405);
  assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
});

test("install.sh is served with this control plane's URL as the default", async () => {
  const r = await fetch(`${t.url}/install.sh`);
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /^#!\/bin\/sh/);
  assert.ok(text.includes(`URL="${t.url}"`));
  assert.equal(text.includes("__BERTH_DEFAULT_URL__"), false);
});

test("the agent bundle is served as one JavaScript file", async () => {
  const r = await fetch(`${t.url}/agent/berth-agent.js`);
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.ok(text.length > 50_000, "a whole bundle, not a stub");
  assert.match(text, /berth-agent/);
});

test("unknown paths are 404 without Next.js", async () => {
  assert.equal((await fetch(`${t.url}/nope`)).status, 404);
});

test(
  "tRPC and REST read bounded input: " + "a body over 4 MiB gets 413, a batch of more than 32 calls 400, and the server carries on",
  async () => {
    const owner = await t.signUp("edges@example.com");
    const huge = JSON.stringify({ json: { id: "x", name: "y".repeat(5 * 1024 * 1024) } });
    const trpcBig = await fetch(`${t.url}/api/trpc/hosts.rename`, {
      method: "POST",
      headers: { cookie: owner.cookie, "content-type": "application/json" },
      body: huge,
    });
    assert.equal(trpcBig.status, 413);
    const restBig = await fetch(`${t.url}/api/v1/hosts/x/rename`, {
      method: "POST",
      headers: { cookie: owner.cookie, "content-type": "application/json" },
      body: huge,
    });
    assert.equal(restBig.status, 413);
    const paths = Array.from({ length: 40 }, () => "auth.me").join(",");
    const batch = await fetch(`${t.url}/api/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`, {
      headers: { cookie: owner.cookie },
    });
    assert.equal(batch.status, 400);
    const ok = await fetch(
      `${t.url}/api/trpc/${Array.from({ length: 3 }, () => "auth.me").join(",")}?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`,
      { headers: { cookie: owner.cookie } },
    );
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
  },
);
