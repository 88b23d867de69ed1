// Webhooks end to end on loopback: a receiver that fails once gets the retry, every request is
// signed with the webhook's secret, host offline/online events arrive, and the delivery log
// shows each attempt. Only admins manage them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { signWebhook } from "@berth/core";
import type { JoinResponse } from "@berth/protocol";
import { startTestControlPlane, TRPCClientError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

let t: TestControlPlane;
let owner: UserClient;
let receiver: Server;
let hookUrl: string;
const received: Received[] = [];
/** How the receiver answers the next requests; 200 when empty. */
const answers: number[] = [];

before(async () => {
  // Retries a second apart, so the test sees one; deployments wait a minute first.
  t = await startTestControlPlane({ offlineAfterMs: 1_500, env: { BERTH_WEBHOOK_RETRY_BASE_MS: "1000" } });
  owner = await t.signUp("hooks-owner@example.com");
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  // The receiver is on loopback: an internal target, allowed here by the admin.
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId: (await owner.trpc.auth.teams.query())[0]!.id, entries: ["127.0.0.0/8"] });
});
after(async () => {
  await t.close();
  await new Promise((r) => receiver.close(r));
});

test("a signed ping is retried after a failure, and the delivery log shows both attempts", { timeout: 30_000 }, async () => {
  const { webhook, secret } = await owner.trpc.webhooks.create.mutate({
    name: "ops",
    url: hookUrl,
    events: ["host.offline", "host.online"],
  });
  assert.match(secret, /^whsec_[0-9a-f]{48}$/);
  assert.ok(!JSON.stringify(await owner.trpc.webhooks.list.query()).includes(secret), "the secret is never listed");
  answers.push(500);
  received.length = 0;
  await owner.trpc.webhooks.test.mutate({ id: webhook.id });
  await waitFor("the retry", () => received.length >= 2, 15_000);
  for (const r of received) {
    assert.equal(r.headers["x-berth-event"], "ping");
    assert.equal(r.headers["x-berth-signature-256"], signWebhook(secret, String(r.headers["x-berth-timestamp"]), r.body));
  }
  assert.equal(received[0]!.headers["x-berth-delivery"], received[1]!.headers["x-berth-delivery"], "the same delivery, twice");
  assert.deepEqual((JSON.parse(received[1]!.body) as { data: { webhook: { name: string } } }).data.webhook.name, "ops");
  const log = await waitFor("delivered", async () => {
    const d = (await owner.trpc.webhooks.deliveries.query({ id: webhook.id })).rows[0];
    return d?.status === "ok" ? d : null;
  });
  assert.deepEqual([log.event, log.attempts, log.lastStatus], ["ping", 2, 200]);
});

test("a host going offline and coming back fires host.offline and host.online", { timeout: 30_000 }, async () => {
  const hooks = await owner.trpc.webhooks.list.query();
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
  const join = (await joinWithToken(t.url, token, "hooked")).body as JoinResponse;
  received.length = 0;
  const sim = await linkedSimAgent(t.url, join.credential, "hooked");
  await waitFor("online event", () => received.some((r) => r.headers["x-berth-event"] === "host.online"), 15_000);
  sim.close(); // no more heartbeats: offline after the timeout
  await waitFor("offline event", () => received.some((r) => r.headers["x-berth-event"] === "host.offline"), 15_000);
  const off = JSON.parse(received.find((r) => r.headers["x-berth-event"] === "host.offline")!.body) as {
    event: string;
    data: { host: { id: string; name: string } };
  };
  assert.deepEqual(off.data.host, { id: join.hostId, name: "hooked" });
  assert.equal(hooks.length, 1);
});

test("bad webhook input is refused with a clear message; only admins manage webhooks", async () => {
  const err = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof TRPCClientError);
      return e.message;
    }
    assert.fail("accepted");
  };
  assert.match(await err(owner.trpc.webhooks.create.mutate({ name: "x", url: "ftp://example.test/", events: ["ping"] })), /http or https/);
  assert.match(
    await err(owner.trpc.webhooks.create.mutate({ name: "x", url: "http://user:pw@127.0.0.1/", events: ["ping"] })),
    /no credentials/,
  );
  assert.match(
    await err(owner.trpc.webhooks.create.mutate({ name: "x", url: hookUrl, events: ["container.explode" as "ping"] })),
    /events/,
  );
  const viewer = await t.signUp("hooks-viewer@example.com");
  assert.match(await err(viewer.trpc.webhooks.list.query()), /this needs the admin role/);
});

test("internal targets (loopback, link-local, private) are refused unless allow-listed, at creation and at every delivery", async () => {
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: [] });
  for (const url of [
    hookUrl,
    "http://10.1.2.3/h",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:9/h",
    "http://localhost:9/h",
    "http://[::ffff:127.0.0.1]:9/h",
    "http://192.168.1.1/h",
  ]) {
    await assert.rejects(owner.trpc.webhooks.create.mutate({ teamId, name: "internal", url, events: ["ping"] }), (e: unknown) => {
      assert.ok(e instanceof TRPCClientError);
      assert.equal((e.data as { code: string }).code, "FORBIDDEN", url);
      assert.match(e.message, /is an internal address .*an admin can allow it/);
      return true;
    });
  }
  await assert.rejects(
    owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["not a host!"] }),
    /not a host name, an address or a CIDR/,
  );

  // Allowed by address: created and delivered. Then the allowance goes: the next delivery is refused before any connection.
  assert.deepEqual(await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.1"] }), ["127.0.0.1"]);
  const { webhook } = await owner.trpc.webhooks.create.mutate({ teamId, name: "allowed", url: hookUrl, events: ["ping"] });
  received.length = 0;
  await owner.trpc.webhooks.test.mutate({ id: webhook.id });
  await waitFor("the allowed delivery", () => received.length === 1, 10_000);
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: [] });
  await owner.trpc.webhooks.test.mutate({ id: webhook.id });
  const refused = await waitFor(
    "the refused attempt in the log",
    async () => (await owner.trpc.webhooks.deliveries.query({ id: webhook.id })).rows.find((r) => r.attempts > 0 && r.lastError) ?? null,
    10_000,
  );
  assert.match(refused.lastError ?? "", /internal address/);
  assert.equal(received.length, 1, "nothing reached the receiver");
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.0/8"] });
});
