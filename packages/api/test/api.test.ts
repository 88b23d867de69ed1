// The tRPC API over HTTP with real sessions: authentication, roles, validation, audit.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startTestControlPlane, trpcClient, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent } from "@berth/test-support/sim-agent";
import type { JoinResponse } from "@berth/protocol";

let t: TestControlPlane;
let owner: UserClient;
let viewer: UserClient;

before(async () => {
  t = await startTestControlPlane();
  owner = await t.signUp("owner@example.com");
  viewer = await t.signUp("viewer@example.com");
});
after(async () => {
  await t.close();
});

async function joinedHost(name: string): Promise<JoinResponse> {
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
  const r = await joinWithToken(t.url, token, name);
  assert.equal(r.status, 200);
  return r.body as JoinResponse;
}

test("every procedure refuses an unauthenticated caller; auth.me answers null", async () => {
  const anon = trpcClient(t.url);
  assert.equal(await anon.auth.me.query(), null);
  const calls: Array<() => Promise<unknown>> = [
    () => anon.auth.teams.query(),
    () => anon.hosts.list.query(),
    () => anon.hosts.get.query({ id: "x" }),
    () => anon.hosts.rename.mutate({ id: "x", name: "y" }),
    () => anon.hosts.setLabels.mutate({ id: "x", labels: {} }),
    () => anon.hosts.remove.mutate({ id: "x" }),
    () => anon.hosts.revokeCredential.mutate({ id: "x" }),
    () => anon.hosts.ping.query({ id: "x" }),
    () => anon.joinTokens.create.mutate({}),
    () => anon.joinTokens.list.query(),
    () => anon.joinTokens.revoke.mutate({ id: "x" }),
    () => anon.images.list.query({ hostId: "x" }),
    () => anon.images.inspect.query({ hostId: "x", name: "busybox" }),
    () => anon.images.history.query({ hostId: "x", name: "busybox" }),
    () => anon.images.push.mutate({ hostId: "x", name: "busybox" }),
    () => anon.images.tag.mutate({ hostId: "x", source: "a", target: "b" }),
    () => anon.images.remove.mutate({ hostId: "x", name: "busybox" }),
    () => anon.images.prune.mutate({ hostId: "x" }),
    () => anon.registries.list.query(),
    () => anon.registries.create.mutate({ address: "ghcr.io" }),
    () => anon.registries.update.mutate({ id: "x" }),
    () => anon.registries.remove.mutate({ id: "x" }),
  ];
  for (const c of calls) assert.equal((await trpcError(c())).code, "UNAUTHORIZED");
  // a forged session cookie is no better
  const forged = trpcClient(t.url, "better-auth.session_token=forged.value");
  assert.equal((await trpcError(forged.hosts.list.query())).code, "UNAUTHORIZED");
});

test("the first user is owner, the next one viewer", async () => {
  assert.equal((await owner.trpc.auth.me.query())?.memberships[0]?.role, "owner");
  assert.equal((await viewer.trpc.auth.me.query())?.memberships[0]?.role, "viewer");
});

test("join tokens: create shows the install command once; list never shows the secret", async () => {
  const created = await owner.trpc.joinTokens.create.mutate({ description: "rack 4", expiresInSeconds: 3600, maxUses: 3 });
  assert.match(created.token, /^BERTH-1-insecure-[a-f0-9]{48}$/);
  assert.equal(created.command, `curl -fsSL ${t.url}/install.sh | sudo sh -s -- --url ${t.url} --token ${created.token}`);
  const list = await owner.trpc.joinTokens.list.query();
  const secret = created.token.split("-").at(-1)!;
  assert.ok(list.some((x) => x.id === created.record.id && x.state === "active" && x.description === "rack 4"));
  assert.equal(JSON.stringify(list).includes(secret), false);
  const revoked = await owner.trpc.joinTokens.revoke.mutate({ id: created.record.id });
  assert.ok(revoked.revokedAt instanceof Date);
  const r = await joinWithToken(t.url, created.token, "late");
  assert.equal(r.status, 401);
  assert.match((r.body as { error: string }).error, /revoked/);
});

test("bad input gets a clear BAD_REQUEST naming the field", async () => {
  const e = await trpcError(owner.trpc.joinTokens.create.mutate({ expiresInSeconds: 5 }));
  assert.equal(e.code, "BAD_REQUEST");
  assert.match(e.message, /expiresInSeconds/);
  const h = await joinedHost("badinput");
  const e2 = await trpcError(owner.trpc.hosts.rename.mutate({ id: h.hostId, name: "no spaces; allowed" }));
  assert.equal(e2.code, "BAD_REQUEST");
  assert.match(e2.message, /host name may contain|a host name may contain/);
  const e3 = await trpcError(owner.trpc.hosts.get.query({ id: "does-not-exist" }));
  assert.equal(e3.code, "NOT_FOUND");
  assert.match(e3.message, /host not found/);
});

test("hosts: list, get, rename, labels, conflicts", async () => {
  const a = await joinedHost("alpha");
  await joinedHost("beta");
  const list = await owner.trpc.hosts.list.query();
  const alpha = list.find((h) => h.name === "alpha");
  assert.deepEqual(alpha && [alpha.status, alpha.os, alpha.cpus, alpha.memoryBytes, alpha.address], [
    "pending",
    "Debian GNU/Linux 12 (bookworm)",
    4,
    8 * 2 ** 30,
    "127.0.0.1",
  ]);
  assert.equal((await owner.trpc.hosts.get.query({ id: a.hostId })).facts?.os.id, "debian");
  const renamed = await owner.trpc.hosts.rename.mutate({ id: a.hostId, name: "alpha-2" });
  assert.equal(renamed.name, "alpha-2");
  assert.equal((await trpcError(owner.trpc.hosts.rename.mutate({ id: a.hostId, name: "beta" }))).code, "CONFLICT");
  const labelled = await owner.trpc.hosts.setLabels.mutate({ id: a.hostId, labels: { region: "eu", ssd: "" } });
  assert.deepEqual(labelled.labels, { region: "eu", ssd: "" });
  assert.equal((await owner.trpc.hosts.get.query({ id: a.hostId })).name, "alpha-2");
});

test("a viewer reads but cannot change anything", async () => {
  const h = await joinedHost("viewed");
  assert.ok((await viewer.trpc.hosts.list.query()).some((x) => x.id === h.hostId));
  assert.equal((await viewer.trpc.hosts.get.query({ id: h.hostId })).name, "viewed");
  for (const c of [
    () => viewer.trpc.joinTokens.create.mutate({}),
    () => viewer.trpc.joinTokens.list.query(),
    () => viewer.trpc.hosts.rename.mutate({ id: h.hostId, name: "mine" }),
    () => viewer.trpc.hosts.setLabels.mutate({ id: h.hostId, labels: { a: "b" } }),
    () => viewer.trpc.hosts.remove.mutate({ id: h.hostId }),
    () => viewer.trpc.hosts.revokeCredential.mutate({ id: h.hostId }),
  ]) {
    assert.equal((await trpcError(c())).code, "FORBIDDEN");
  }
  assert.equal((await owner.trpc.hosts.get.query({ id: h.hostId })).name, "viewed");
});

test("ping relays through the agent link; an offline host gets a clear error", async () => {
  const h = await joinedHost("pinged");
  assert.equal((await trpcError(owner.trpc.hosts.ping.query({ id: h.hostId }))).message, "host is not connected");
  const a = await linkedSimAgent(t.url, h.credential);
  const r = await owner.trpc.hosts.ping.query({ id: h.hostId });
  assert.deepEqual([r.reply.pong, r.reply.agentVersion], [true, "0.1.0-sim"]);
  a.close();
});

test("revokeCredential disconnects the agent now; remove deletes the host", async () => {
  const h = await joinedHost("doomed");
  const a = await linkedSimAgent(t.url, h.credential);
  assert.deepEqual(await owner.trpc.hosts.revokeCredential.mutate({ id: h.hostId }), { revoked: 1 });
  assert.equal((await a.closed).code, 4401);
  assert.equal((await owner.trpc.hosts.get.query({ id: h.hostId })).status, "offline");
  await owner.trpc.hosts.remove.mutate({ id: h.hostId });
  assert.equal((await trpcError(owner.trpc.hosts.get.query({ id: h.hostId }))).code, "NOT_FOUND");
});

test("mutations are audited with actor, action, target, result and channel", async () => {
  const h = await joinedHost("audited");
  await owner.trpc.hosts.rename.mutate({ id: h.hostId, name: "audited-2" });
  await trpcError(viewer.trpc.hosts.rename.mutate({ id: h.hostId, name: "nope" }));
  const me = await owner.trpc.auth.me.query();
  const them = await viewer.trpc.auth.me.query();
  const rows = await t.cp.db.auditLog.findMany({ where: { action: "hosts.rename", target: h.hostId }, orderBy: { id: "asc" } });
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.actorId, r.result, r.channel, r.actorType]),
    [
      [me?.user.id, "ok", "trpc", "user"],
      [them?.user.id, "error", "trpc", "user"],
    ],
  );
  assert.ok(await t.cp.db.auditLog.findFirst({ where: { action: "host.join", actorId: h.hostId, result: "ok" } }));
});

test("registries: passwords are stored encrypted and never returned; addresses are normalised", async () => {
  const r = await owner.trpc.registries.create.mutate({ address: "http://10.9.8.7:5000/", username: "ci", password: "hunter2-secret" });
  assert.deepEqual([r.domain, r.insecure, r.username, r.hasPassword], ["10.9.8.7:5000", true, "ci", true]);
  assert.equal(JSON.stringify(r).includes("hunter2"), false);
  const listed = await owner.trpc.registries.list.query();
  assert.equal(JSON.stringify(listed).includes("hunter2"), false);
  const row = await t.cp.db.registry.findUniqueOrThrow({ where: { id: r.id } });
  assert.ok(row.passwordEncrypted && !row.passwordEncrypted.includes("hunter2"), "sealed at rest");
  const hub = await owner.trpc.registries.create.mutate({ address: "https://index.docker.io" });
  assert.deepEqual([hub.domain, hub.insecure, hub.hasPassword], ["docker.io", false, false]);
  assert.equal((await trpcError(owner.trpc.registries.create.mutate({ address: "docker.io" }))).code, "CONFLICT");
  const bad = await trpcError(owner.trpc.registries.create.mutate({ address: "ftp://x/y" }));
  assert.equal(bad.code, "BAD_REQUEST");
  assert.equal((await trpcError(viewer.trpc.registries.create.mutate({ address: "quay.io" }))).code, "FORBIDDEN");
  const updated = await owner.trpc.registries.update.mutate({ id: r.id, password: null });
  assert.equal(updated.hasPassword, false);
  await owner.trpc.registries.remove.mutate({ id: r.id });
  assert.equal(
    (await owner.trpc.registries.list.query()).some((x) => x.id === r.id),
    false,
  );
});

test("image commands need a connected host and the right role", async () => {
  const h = await joinedHost("imagehost");
  assert.equal((await trpcError(owner.trpc.images.list.query({ hostId: h.hostId }))).message, "host is not connected");
  assert.equal((await trpcError(viewer.trpc.images.remove.mutate({ hostId: h.hostId, name: "busybox" }))).code, "FORBIDDEN");
  assert.equal(
    (await trpcError(owner.trpc.images.tag.mutate({ hostId: h.hostId, source: "busybox", target: "Bad:Name" }))).code,
    "BAD_REQUEST",
  );
});

test("API tokens: shown once, act with their role, record last use, audit as the token; revoked and expired ones are refused", async () => {
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const created = await owner.trpc.apiTokens.create.mutate({ name: "deploy bot", role: "operator", teamId });
  assert.match(created.token, /^berth_[a-f0-9]{48}$/);
  assert.equal(created.record.lastUsedAt, null);
  const listed = await owner.trpc.apiTokens.list.query();
  assert.equal(JSON.stringify(listed).includes(created.token.slice(6)), false, "the secret is never listed");
  const row = await t.cp.db.apiToken.findUniqueOrThrow({ where: { id: created.record.id } });
  assert.equal(JSON.stringify(row).includes(created.token.slice(6)), false, "only its hash is stored");

  // Plain HTTP with the bearer token, as curl would send it.
  const bearer = { authorization: `Bearer ${created.token}` };
  const h = await joinedHost("tokenhost");
  const rename = await fetch(`${t.url}/api/trpc/hosts.rename`, {
    method: "POST",
    headers: { ...bearer, "content-type": "application/json" },
    body: JSON.stringify({ json: { id: h.hostId, name: "renamed-by-token" } }),
  });
  assert.equal(rename.status, 200, await rename.clone().text());
  const used = await t.cp.db.apiToken.findUniqueOrThrow({ where: { id: created.record.id } });
  assert.ok(used.lastUsedAt, "last use recorded");
  const audit = await t.cp.db.auditLog.findFirstOrThrow({ where: { action: "hosts.rename", target: h.hostId } });
  assert.deepEqual([audit.actorType, audit.actorId, audit.result], ["token", created.record.id, "ok"]);

  // An operator token cannot remove hosts, nor manage tokens.
  const remove = await fetch(`${t.url}/api/trpc/hosts.remove`, {
    method: "POST",
    headers: { ...bearer, "content-type": "application/json" },
    body: JSON.stringify({ json: { id: h.hostId } }),
  });
  assert.equal(remove.status, 403);
  // A viewer mints nothing; an admin mints nothing above admin.
  assert.equal((await trpcError(viewer.trpc.apiTokens.create.mutate({ name: "x", role: "viewer", teamId }))).code, "FORBIDDEN");

  await owner.trpc.apiTokens.revoke.mutate({ id: created.record.id });
  const after = await fetch(`${t.url}/api/trpc/hosts.list`, { headers: bearer });
  assert.equal(after.status, 401);
  assert.match(await after.text(), /API token revoked/);

  const expiring = await owner.trpc.apiTokens.create.mutate({ name: "short", role: "viewer", teamId, expiresInSeconds: 60 });
  await t.cp.db.apiToken.update({ where: { id: expiring.record.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
  const expired = await fetch(`${t.url}/api/trpc/hosts.list`, { headers: { authorization: `Bearer ${expiring.token}` } });
  assert.equal(expired.status, 401);
  assert.match(await expired.text(), /API token expired/);
});

test("teams: admins manage members, only owners touch ownership, and a team keeps its last owner", async () => {
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const me = (await owner.trpc.auth.me.query())!.user.id;
  const adminUser = await t.signUp("team-admin@example.com");
  const adminId = (await adminUser.trpc.auth.me.query())!.user.id;
  await owner.trpc.teams.setRole.mutate({ teamId, userId: adminId, role: "admin" });
  const members = await adminUser.trpc.teams.members.query({ teamId });
  assert.equal(members.find((m) => m.userId === adminId)?.role, "admin");
  assert.equal((await trpcError(adminUser.trpc.teams.setRole.mutate({ teamId, userId: adminId, role: "owner" }))).code, "FORBIDDEN");
  assert.equal((await trpcError(adminUser.trpc.teams.setRole.mutate({ teamId, userId: me, role: "viewer" }))).code, "FORBIDDEN");
  const last = await trpcError(owner.trpc.teams.setRole.mutate({ teamId, userId: me, role: "admin" }));
  assert.deepEqual([last.code, last.message], ["CONFLICT", "a team keeps at least one owner: make someone else owner first"]);
  assert.equal((await trpcError(viewer.trpc.teams.members.query({ teamId }))).code, "FORBIDDEN");
  await owner.trpc.teams.removeMember.mutate({ teamId, userId: adminId });
  assert.deepEqual(await adminUser.trpc.auth.teams.query(), []);
});

test("the audit log is filtered and paged on the server, newest first, and only admins read it", async () => {
  const h = await joinedHost("audit-paging");
  for (let i = 0; i < 5; i++) await owner.trpc.hosts.setLabels.mutate({ id: h.hostId, labels: { n: String(i) } });
  const first = await owner.trpc.audit.list.query({ action: "hosts.setLabels", target: h.hostId, limit: 3 });
  assert.equal(first.rows.length, 3);
  assert.ok(first.nextCursor);
  const second = await owner.trpc.audit.list.query({ action: "hosts.setLabels", target: h.hostId, limit: 3, cursor: first.nextCursor! });
  assert.equal(second.rows.length, 2);
  assert.equal(second.nextCursor, null);
  const ids = [...first.rows, ...second.rows].map((r) => BigInt(r.id));
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => (a > b ? -1 : 1)),
    "newest first",
  );
  assert.ok([...first.rows, ...second.rows].every((r) => r.result === "ok" && r.channel === "trpc" && r.actorType === "user"));
  assert.equal((await owner.trpc.audit.list.query({ action: "hosts.setLabels", target: h.hostId, result: "error" })).rows.length, 0);
  assert.equal((await trpcError(viewer.trpc.audit.list.query({}))).code, "FORBIDDEN");
});

test("REST under /api/v1 with an API token, as curl would call it; the OpenAPI document lists the routes", async () => {
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const op = await owner.trpc.apiTokens.create.mutate({ name: "rest operator", role: "operator", teamId });
  const view = await owner.trpc.apiTokens.create.mutate({ name: "rest viewer", role: "viewer", teamId });
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const h = await joinedHost("resthost");

  const list = await fetch(`${t.url}/api/v1/hosts`, { headers: auth(view.token) });
  assert.equal(list.status, 200);
  assert.ok(((await list.json()) as Array<{ id: string }>).some((x) => x.id === h.hostId));
  const one = await fetch(`${t.url}/api/v1/hosts/${h.hostId}`, { headers: auth(view.token) });
  assert.equal(((await one.json()) as { name: string }).name, "resthost");

  const labels = await fetch(`${t.url}/api/v1/hosts/${h.hostId}/labels`, {
    method: "PUT",
    headers: { ...auth(op.token), "content-type": "application/json" },
    body: JSON.stringify({ labels: { tier: "edge" } }),
  });
  assert.equal(labels.status, 200, await labels.clone().text());
  assert.deepEqual((await owner.trpc.hosts.get.query({ id: h.hostId })).labels, { tier: "edge" });
  const row = await t.cp.db.auditLog.findFirstOrThrow({ where: { action: "hosts.setLabels", target: h.hostId } });
  assert.deepEqual([row.actorType, row.actorId, row.channel], ["token", op.record.id, "rest"]);

  const refused = await fetch(`${t.url}/api/v1/hosts/${h.hostId}/labels`, {
    method: "PUT",
    headers: { ...auth(view.token), "content-type": "application/json" },
    body: JSON.stringify({ labels: {} }),
  });
  assert.equal(refused.status, 403);
  const bad = await fetch(`${t.url}/api/v1/hosts/${h.hostId}/labels`, {
    method: "PUT",
    headers: { ...auth(op.token), "content-type": "application/json" },
    body: JSON.stringify({ labels: { "bad key!": "x" } }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await fetch(`${t.url}/api/v1/hosts`)).status, 401);
  assert.equal((await fetch(`${t.url}/api/v1/hosts`, { headers: auth(`berth_${"f".repeat(48)}`) })).status, 401);

  assert.equal((await fetch(`${t.url}/api/openapi.json`)).status, 401);
  const doc = (await (await fetch(`${t.url}/api/openapi.json`, { headers: auth(view.token) })).json()) as {
    openapi: string;
    paths: Record<string, Record<string, unknown>>;
  };
  assert.match(doc.openapi, /^3\./);
  assert.ok(doc.paths["/hosts/{id}/labels"]?.put, "PUT /hosts/{id}/labels is documented");
  assert.ok(doc.paths["/hosts/{hostId}/containers/{id}/start"]?.post);
  const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p));
  assert.ok(operations.length >= 50, `${operations.length} operations documented`);
});

test("/metrics: Prometheus text for a token or a session, 401 for anyone else", async () => {
  assert.equal((await fetch(`${t.url}/metrics`)).status, 401);
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const { token } = await owner.trpc.apiTokens.create.mutate({ name: "prometheus", role: "viewer", teamId });
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await res.text();
  assert.match(text, /^berth_agents_connected \d+$/m);
  assert.match(text, /^berth_hosts\{status="(online|offline|pending)"\} \d+$/m);
  assert.match(text, /^berth_http_requests_total\{surface="trpc",status="2xx"\} \d+$/m);
  assert.match(text, /^berth_cp_process_cpu_seconds_total /m);
  assert.equal((await fetch(`${t.url}/metrics`, { headers: { cookie: owner.cookie } })).status, 200);
});

test("the audit log is append-only in the database itself", async () => {
  const row = await t.cp.db.auditLog.findFirstOrThrow();
  await assert.rejects(t.cp.db.auditLog.update({ where: { id: row.id }, data: { result: "ok" } }), /append-only/);
  await assert.rejects(t.cp.db.auditLog.delete({ where: { id: row.id } }), /append-only/);
  await assert.rejects(t.cp.db.$executeRawUnsafe("truncate audit_log"), /append-only/);
  assert.ok(await t.cp.db.auditLog.findUnique({ where: { id: row.id } }));
});
