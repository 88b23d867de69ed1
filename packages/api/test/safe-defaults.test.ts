// Safe defaults of the control plane, each tried as a stranger or a careless operator would:
// closed sign-up and invitations, the container policy, tokens that follow their maker, streams
// that end with their credentials, and no pull started by a cross-site GET.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import type { JoinResponse } from "@berth/protocol";
import {
  inviteOf,
  signUp,
  startTestControlPlane,
  trpcClient,
  trpcError,
  type TestControlPlane,
  type UserClient,
} from "@berth/test-support/control-plane";
import {
  defaultResponder,
  joinWithToken,
  linkedSimAgent,
  SIM_INSPECT,
  SIM_PULLED_IMAGE,
  type SimAgent,
} from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";

let t: TestControlPlane;
let owner: UserClient;
let teamId: string;

before(async () => {
  t = await startTestControlPlane({ env: { BERTH_STREAM_RECHECK_MS: "200" } });
  owner = await t.signUp("owner@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
});
after(async () => {
  await t.close();
});

const rawSignUp = (email: string, invite?: string) =>
  fetch(`${t.url}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: t.url, ...(invite ? { "x-berth-invite": invite } : {}) },
    body: JSON.stringify({ email, password: "password-123", name: email.split("@")[0] }),
  });

async function linkedHost(name: string): Promise<{ hostId: string; agent: SimAgent }> {
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
  const r = await joinWithToken(t.url, token, name);
  assert.equal(r.status, 200);
  const { hostId, credential } = r.body as JoinResponse;
  return { hostId, agent: await linkedSimAgent(t.url, credential, name) };
}

test("sign-up is closed: no account without an invitation, and the setup link made exactly one owner", async () => {
  const stranger = await rawSignUp("stranger@example.com");
  assert.equal(stranger.status, 403);
  assert.match(await stranger.text(), /sign-up is by invitation only/);
  assert.equal(await t.cp.db.user.count({ where: { email: "stranger@example.com" } }), 0);
  // The setup link was used by the owner; it works no more.
  const again = await rawSignUp("late@example.com", inviteOf(t.cp.setupLink!));
  assert.equal(again.status, 403);
  assert.match(await again.text(), /already used/);
  assert.equal(await t.cp.db.membership.count({ where: { role: "owner" } }), 1);
  assert.equal((await owner.trpc.auth.me.query())!.memberships[0]!.role, "owner");
  // With an owner, a restart prints no new setup link.
  assert.equal(await (await import("@berth/core")).ensureSetupInvitation(t.cp.db), null);
});

test("invitations: single use, expiring, naming team and role; listed, revocable, audited; never above the inviter", async () => {
  const made = await owner.trpc.invitations.create.mutate({ teamId, role: "operator", expiresInHours: 1, note: "for Ana" });
  assert.match(made.link, new RegExp(`^${t.url}/signup\\?invite=inv_[0-9a-f]{48}$`));
  const token = inviteOf(made.link);
  assert.deepEqual(
    { ...(await trpcClient(t.url).invitations.lookup.query({ token })), expiresAt: null },
    { team: "default", role: "operator", setup: false, expiresAt: null },
  );
  assert.equal((await owner.trpc.invitations.list.query()).find((i) => i.id === made.record.id)?.state, "pending");

  const ana = await signUp(t.url, "ana@example.com", "password-123", token);
  assert.deepEqual((await ana.trpc.auth.me.query())!.memberships, [{ teamId, role: "operator" }]);
  const reuse = await rawSignUp("ana2@example.com", token);
  assert.equal(reuse.status, 403, "single use");
  assert.equal((await owner.trpc.invitations.list.query()).find((i) => i.id === made.record.id)?.state, "used");

  const revoked = await owner.trpc.invitations.create.mutate({ teamId, role: "viewer" });
  await owner.trpc.invitations.revoke.mutate({ id: revoked.record.id });
  const r1 = await rawSignUp("rev@example.com", inviteOf(revoked.link));
  assert.equal(r1.status, 403);
  assert.match(await r1.text(), /revoked/);

  const expired = await owner.trpc.invitations.create.mutate({ teamId, role: "viewer" });
  await t.cp.db.invitation.update({ where: { id: expired.record.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
  const r2 = await rawSignUp("exp@example.com", inviteOf(expired.link));
  assert.equal(r2.status, 403);
  assert.match(await r2.text(), /expired/);
  assert.equal((await rawSignUp("bad@example.com", `inv_${"0".repeat(48)}`)).status, 403);

  // An admin invites, but not above admin; operators do not invite at all.
  const admin = await t.signUp("inviting-admin@example.com", "password-123", "admin");
  assert.equal((await trpcError(admin.trpc.invitations.create.mutate({ teamId, role: "owner" }))).code, "FORBIDDEN");
  assert.equal((await admin.trpc.invitations.create.mutate({ teamId, role: "admin" })).record.role, "admin");
  assert.equal((await trpcError(ana.trpc.invitations.create.mutate({ teamId, role: "viewer" }))).code, "FORBIDDEN");
  const audited = await t.cp.db.auditLog.findMany({ where: { action: { in: ["invitations.create", "invitations.revoke"] } } });
  assert.ok(audited.some((a) => a.action === "invitations.revoke" && a.result === "ok" && a.target === revoked.record.id));
  assert.ok(
    audited.some((a) => a.action === "invitations.create" && a.result === "error"),
    "the refused one is audited too",
  );
});

test("open sign-up (BERTH_OPEN_SIGNUP=1, for demos) makes accounts that belong to no team", async () => {
  const demo = await startTestControlPlane({ env: { BERTH_OPEN_SIGNUP: "1" } });
  try {
    await demo.signUp("demo-owner@example.com");
    const u = await signUp(demo.url, "walk-in@example.com", "password-123");
    assert.deepEqual((await u.trpc.auth.me.query())!.memberships, []);
    assert.deepEqual(await u.trpc.hosts.list.query(), []);
    assert.equal((await trpcError(u.trpc.policies.get.query({ teamId: (await demo.cp.db.team.findFirstOrThrow()).id }))).code, "FORBIDDEN");
  } finally {
    await demo.close();
  }
});

test("the container policy binds operators on every route to an agent, names the setting it refuses, and admins edit it", async () => {
  const { hostId, agent } = await linkedHost("policy-host");
  try {
    const operator = await t.signUp("op@example.com", "password-123", "operator");
    const opToken = (await owner.trpc.apiTokens.create.mutate({ name: "op token", role: "operator", teamId })).token;
    const viaToken = (path: string, body: unknown) =>
      fetch(`${t.url}/api/v1${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${opToken}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ Privileged: true }, /does not allow privileged containers \(setting "privileged"/],
      [{ NetworkMode: "host" }, /setting "host network"/],
      [{ CapAdd: ["NET_ADMIN"] }, /adding CAP_NET_ADMIN.*setting "capabilities"/],
      [{ CapAdd: ["ALL"] }, /every capability/],
      [{ SecurityOpt: ["seccomp=unconfined"] }, /turning seccomp off \(setting "seccomp and AppArmor"/],
      [{ SecurityOpt: ["apparmor=unconfined"] }, /turning AppArmor off/],
      [{ Binds: ["/:/host"] }, /bind-mounting \/ from the host \(setting "bind mounts"/],
      [{ Mounts: [{ Type: "bind", Source: "/etc", Target: "/e" }] }, /bind-mounting \/etc/],
    ];
    for (const [HostConfig, message] of refusals) {
      const e = await trpcError(operator.trpc.containers.run.mutate({ hostId, config: { Image: "busybox", HostConfig } }));
      assert.equal(e.code, "FORBIDDEN", JSON.stringify(HostConfig));
      assert.match(e.message, message);
      const rest = await viaToken(`/hosts/${hostId}/containers`, { config: { Image: "busybox", HostConfig } });
      assert.equal(rest.status, 403, `REST with an operator token: ${JSON.stringify(HostConfig)}`);
    }
    assert.ok(!agent.commands.some((c) => c.command === "containers.create"), "nothing refused reached the agent");

    // Joining another container's namespace is judged as that container's: one on the host's PID
    // namespace (directly or through a chain of container: modes) is the host's.
    const modes: Record<string, Record<string, string>> = { hostpid: { PidMode: "host" }, chained: { PidMode: "container:hostpid" } };
    agent.respond = (c, answer) => {
      const id = (c.args as { id?: string }).id ?? "";
      if (c.command !== "containers.inspect") return defaultResponder(c, answer);
      if (!modes[id]) return answer.fail("NOT_FOUND", `No such container: ${id}`);
      answer.reply({ ...SIM_INSPECT, Id: id, HostConfig: modes[id] });
    };
    for (const target of ["hostpid", "chained"]) {
      const e = await trpcError(
        operator.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { PidMode: `container:${target}` } } }),
      );
      assert.match(e.message, /setting "host PID"/, target);
    }
    agent.respond = defaultResponder;

    // Docker's defaults, a named volume and the default capabilities stay allowed; the agent is told the bind limits.
    await operator.trpc.containers.create.mutate({
      hostId,
      config: { Image: "busybox", HostConfig: { CapAdd: ["CHOWN"], Binds: ["data:/data"] } },
    });
    assert.deepEqual((agent.commands.at(-1)!.args as { bindPrefixes?: string[] }).bindPrefixes, []);

    // Only admins change the policy, and it is audited; then the operator may bind under the prefix only.
    assert.equal(
      (
        await trpcError(
          operator.trpc.policies.set.mutate({ teamId, ...(await operator.trpc.policies.get.query({ teamId })), allowPrivileged: true }),
        )
      ).code,
      "FORBIDDEN",
    );
    const policy = await owner.trpc.policies.set.mutate({
      teamId,
      ...(await owner.trpc.policies.get.query({ teamId })),
      bindPrefixes: ["/srv/app/", "/srv/app"],
      allowedCapabilities: ["net_admin"],
    });
    assert.deepEqual([policy.bindPrefixes, policy.allowedCapabilities], [["/srv/app"], ["CAP_NET_ADMIN"]]);
    assert.ok(await t.cp.db.auditLog.findFirst({ where: { action: "policies.set", result: "ok" } }));
    await operator.trpc.containers.create.mutate({
      hostId,
      config: { Image: "busybox", HostConfig: { Binds: ["/srv/app/data:/data:ro"], CapAdd: ["NET_ADMIN"] } },
    });
    assert.deepEqual((agent.commands.at(-1)!.args as { bindPrefixes?: string[] }).bindPrefixes, ["/srv/app"]);
    assert.match(
      (
        await trpcError(
          operator.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { Binds: ["/srv/app/../etc:/e"] } } }),
        )
      ).message,
      /bind-mounting \/srv\/etc from the host \(allowed: \/srv\/app\)/,
    );
    assert.match(
      (
        await trpcError(
          operator.trpc.containers.create.mutate({ hostId, config: { Image: "busybox", HostConfig: { Binds: ["/srv/application:/e"] } } }),
        )
      ).message,
      /bind mounts/,
    );

    // Admins and owners are not bound by it.
    await owner.trpc.containers.create.mutate({
      hostId,
      config: { Image: "busybox", HostConfig: { Privileged: true, Binds: ["/:/host"] } },
    });
    assert.equal((agent.commands.at(-1)!.args as { bindPrefixes?: string[] }).bindPrefixes, undefined);

    // update changes resource limits only.
    const up = await trpcError(
      operator.trpc.containers.update.mutate({ hostId, id: "c1", hostConfig: { Memory: 1 << 26, Privileged: true } as never }),
    );
    assert.equal(up.code, "BAD_REQUEST");
    assert.match(up.message, /Privileged/);
  } finally {
    agent.close();
  }
});

test(
  "tokens act with the lower of their role and their maker's, " + "die with their maker's membership, and mint nothing stronger",
  async () => {
    const { hostId, agent } = await linkedHost("token-host");
    try {
      const maker = await t.signUp("maker@example.com", "password-123", "admin");
      const makerId = (await maker.trpc.auth.me.query())!.user.id;
      const adminToken = await maker.trpc.apiTokens.create.mutate({ name: "admin bot", role: "admin", teamId });
      const as = (token: string) => ({ authorization: `Bearer ${token}` });
      const call = (token: string, path: string, body: unknown) =>
        fetch(`${t.url}/api/trpc/${path}`, {
          method: "POST",
          headers: { ...as(token), "content-type": "application/json" },
          body: JSON.stringify({ json: body }),
        });

      // A token makes tokens in its own team, never above its own role, and they are listed as its children.
      assert.equal((await call(adminToken.token, "apiTokens.create", { name: "too strong", role: "owner", teamId })).status, 403);
      assert.equal((await call(adminToken.token, "apiTokens.create", { name: "no team", role: "viewer", teamId: null })).status, 403);
      const childRes = await call(adminToken.token, "apiTokens.create", { name: "child", role: "operator", teamId });
      assert.equal(childRes.status, 200, await childRes.clone().text());
      const child = (
        (await childRes.json()) as { result: { data: { json: { token: string; record: { id: string; createdByTokenId: string } } } } }
      ).result.data.json;
      assert.equal(child.record.createdByTokenId, adminToken.record.id);
      assert.ok(
        (await owner.trpc.apiTokens.list.query()).some((x) => x.id === child.record.id && x.createdByTokenId === adminToken.record.id),
        "listed",
      );
      assert.equal((await call(child.token, "hosts.setLabels", { id: hostId, labels: { a: "1" } })).status, 200);

      // The maker becomes a viewer: the admin token and its child act as viewers.
      await owner.trpc.teams.setRole.mutate({ teamId, userId: makerId, role: "viewer" });
      assert.equal((await call(adminToken.token, "hosts.setLabels", { id: hostId, labels: { a: "2" } })).status, 403);
      assert.equal((await call(child.token, "hosts.setLabels", { id: hostId, labels: { a: "2" } })).status, 403);
      assert.equal((await fetch(`${t.url}/api/trpc/hosts.list`, { headers: as(child.token) })).status, 200, "still reads");

      // Revoking the parent kills the child.
      await owner.trpc.teams.setRole.mutate({ teamId, userId: makerId, role: "admin" });
      const other = await maker.trpc.apiTokens.create.mutate({ name: "other", role: "operator", teamId });
      await owner.trpc.apiTokens.revoke.mutate({ id: adminToken.record.id });
      const dead = await fetch(`${t.url}/api/trpc/hosts.list`, { headers: as(child.token) });
      assert.equal(dead.status, 401);
      assert.equal((await owner.trpc.apiTokens.list.query()).find((x) => x.id === child.record.id)?.state, "revoked");

      // The maker leaves the team: their tokens die.
      assert.equal((await fetch(`${t.url}/api/trpc/hosts.list`, { headers: as(other.token) })).status, 200);
      await owner.trpc.teams.removeMember.mutate({ teamId, userId: makerId });
      const gone = await fetch(`${t.url}/api/trpc/hosts.list`, { headers: as(other.token) });
      assert.equal(gone.status, 401);
      assert.match(await gone.text(), /API token revoked/);
    } finally {
      agent.close();
    }
  },
);

test("an open stream ends when its token is revoked or its role is taken away", async () => {
  const viewer = await t.signUp("watcher@example.com", "password-123", "viewer");
  const viewerId = (await viewer.trpc.auth.me.query())!.user.id;
  const { token, record } = await owner.trpc.apiTokens.create.mutate({ name: "feed", role: "viewer", teamId });
  const open = (headers: Record<string, string>) => {
    const ws = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/streams/events`, { headers });
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    const opened = new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_q, res) => reject(new Error(`refused ${res.statusCode}`)));
    });
    return { ws, messages, closed, opened };
  };
  const byToken = open({ authorization: `Bearer ${token}` });
  await byToken.opened;
  const bySession = open({ cookie: viewer.cookie, origin: t.url });
  await bySession.opened;

  await owner.trpc.apiTokens.revoke.mutate({ id: record.id });
  assert.equal(await byToken.closed, 1008);
  assert.match(byToken.messages.at(-1)!, /"t":"end".*access ended: API token revoked/);

  await owner.trpc.teams.removeMember.mutate({ teamId, userId: viewerId });
  assert.equal(await bySession.closed, 1008);
  assert.match(bySession.messages.at(-1)!, /access ended/);
  await waitFor(
    "nothing left open",
    async () => byToken.ws.readyState === WebSocket.CLOSED && bySession.ws.readyState === WebSocket.CLOSED,
    2_000,
  );
});

test("a pull is a mutation: a GET, as a cross-site link or image would send, starts nothing", async () => {
  const { hostId, agent } = await linkedHost("pull-host");
  try {
    const input = encodeURIComponent(JSON.stringify({ json: { hostId, reference: "busybox" } }));
    const res = await fetch(`${t.url}/api/trpc/images.pull?input=${input}`, { headers: { cookie: owner.cookie } });
    assert.equal(res.status, 405);
    assert.ok(!agent.commands.some((c) => c.command === "images.pull"), "the agent was asked nothing");
    const pulled = await owner.trpc.images.pull.mutate({ hostId, reference: "busybox" });
    assert.deepEqual(pulled, SIM_PULLED_IMAGE);
    assert.ok(await t.cp.db.auditLog.findFirst({ where: { action: "images.pull", target: hostId, result: "ok" } }));
  } finally {
    agent.close();
  }
});

test("the fleet feed's backlogs share one global cap: with many slow clients each holds its share", { timeout: 60_000 }, async () => {
  const { hostId, agent } = await linkedHost("feed-host");
  const { token } = await owner.trpc.apiTokens.create.mutate({ name: "feeds", role: "viewer", teamId });
  const clients = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const ws = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/streams/events?window=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const messages: Array<{ t: string; d?: { events: unknown[]; dropped?: number } }> = [];
      ws.on("message", (d) => messages.push(JSON.parse(d.toString())));
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("unexpected-response", () => reject(new Error("refused")));
      });
      return { ws, messages };
    }),
  );
  try {
    // 12,000 events while no client reads: 20 clients share 100,000, so each keeps 5,000.
    for (let i = 0; i < 12_000; i++)
      t.cp.fleetEvents.emit("event", hostId, {
        seq: i,
        Type: "container",
        Action: "start",
        Actor: { ID: `c${i}`, Attributes: {} },
        scope: "local",
        time: i,
        timeNano: i * 1e9,
      });
    await waitFor("first batches", async () => clients.every((c) => c.messages.length >= 1), 10_000);
    for (const c of clients) c.ws.send(JSON.stringify({ t: "ack", n: 1 }));
    await waitFor("second batches", async () => clients.every((c) => c.messages.length >= 2), 10_000);
    for (const c of clients) {
      const first = c.messages[0]!.d!.events.length;
      const dropped = c.messages[1]!.d!.dropped ?? 0;
      assert.equal(dropped, 12_000 - first - 5_000, "everything past the client's share of the global cap was dropped and counted");
    }
  } finally {
    for (const c of clients) c.ws.close();
    agent.close();
  }
});
