// Every tRPC procedure × every role (signed-in users and API tokens), plus a signed-in user with
// no team and a token with no team, over HTTP against a real control plane. Each call is either
// allowed (it gets past authorization: an answer, or an error from further in such as "host
// offline") or refused (UNAUTHORIZED/FORBIDDEN), exactly as the table below says. A procedure
// added to the router without a row here fails the test.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "@berth/api";
import { appRouter } from "@berth/api";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { joinWithToken } from "@berth/test-support/sim-agent";
import { startGitServer, type GitServer } from "@berth/test-support/git-server";
import type { JoinResponse } from "@berth/protocol";

type Role = "owner" | "admin" | "operator" | "viewer";
/** "user": a signed-in user whatever their teams, never an API token (what is a user's own). */
type Need = "public" | "signed-in" | "user" | Role;
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

interface Caller {
  label: string;
  /** The caller's role in the default team, or null for none. */
  role: Role | null;
  headers: Record<string, string>;
}

let t: TestControlPlane;
let owner: UserClient;
let teamId: string;
let hostId: string;
let gitServer: GitServer;
const callers: Caller[] = [];

function client(headers: Record<string, string>) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${t.url}/api/trpc`, transformer: superjson, headers: () => headers })] });
}

async function freshHost(): Promise<string> {
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
  const r = await joinWithToken(t.url, token, `h-${Math.random().toString(36).slice(2, 10)}`);
  assert.equal(r.status, 200);
  return (r.body as JoinResponse).hostId;
}

let userSeq = 0;
async function freshMember(): Promise<string> {
  const u = await t.signUp(`member-${++userSeq}@example.com`);
  return (await u.trpc.auth.me.query())!.user.id;
}

before(async () => {
  gitServer = await startGitServer();
  gitServer.commit("stacks", stackSource().files);
  t = await startTestControlPlane();
  owner = await t.signUp("owner@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  // The webhook rows aim at a closed loopback port, an internal target that must be allowed first.
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.1"] });
  hostId = await freshHost();
  callers.push({ label: "owner user", role: "owner", headers: { cookie: owner.cookie } });
  for (const role of ["admin", "operator", "viewer"] as const) {
    const u = await t.signUp(`${role}@example.com`);
    const id = (await u.trpc.auth.me.query())!.user.id;
    if (role !== "viewer") await owner.trpc.teams.setRole.mutate({ teamId, userId: id, role });
    callers.push({ label: `${role} user`, role, headers: { cookie: u.cookie } });
  }
  const outsider = await t.signUp("outsider@example.com");
  await owner.trpc.teams.removeMember.mutate({ teamId, userId: (await outsider.trpc.auth.me.query())!.user.id });
  callers.push({ label: "user in no team", role: null, headers: { cookie: outsider.cookie } });
  for (const role of ["owner", "admin", "operator", "viewer"] as const) {
    const { token } = await owner.trpc.apiTokens.create.mutate({ name: `${role} token`, role, teamId });
    callers.push({ label: `${role} token`, role, headers: { authorization: `Bearer ${token}` } });
  }
  const { token } = await owner.trpc.apiTokens.create.mutate({ name: "no team", role: "owner", teamId: null });
  callers.push({ label: "token with no team", role: null, headers: { authorization: `Bearer ${token}` } });
});
after(async () => {
  await t.close();
  await gitServer?.stop();
});

type Api = ReturnType<typeof client>;
interface Row {
  need: Need;
  call: (api: Api, headers: Record<string, string>) => Promise<unknown>;
}

const h = () => hostId;
const ownerHook = async () =>
  (await owner.trpc.webhooks.create.mutate({ teamId, name: "owned", url: "http://127.0.0.1:9/owned", events: ["ping"] })).webhook;
const cref = () => ({ hostId: h(), id: "c1" });

/** What each procedure needs. Inputs are valid, so a refusal can only come from authorization. */
const MATRIX: Record<string, Row> = {
  "auth.me": { need: "public", call: (a) => a.auth.me.query() },
  "auth.teams": { need: "signed-in", call: (a) => a.auth.teams.query() },

  "hosts.list": { need: "signed-in", call: (a) => a.hosts.list.query() },
  "hosts.get": { need: "viewer", call: (a) => a.hosts.get.query({ id: h() }) },
  "hosts.statsHistory": { need: "viewer", call: (a) => a.hosts.statsHistory.query({ id: h() }) },
  "hosts.ping": { need: "viewer", call: (a) => a.hosts.ping.query({ id: h() }) },
  "hosts.rename": { need: "operator", call: async (a) => a.hosts.rename.mutate({ id: await freshHost(), name: `r-${++userSeq}` }) },
  "hosts.setLabels": { need: "operator", call: (a) => a.hosts.setLabels.mutate({ id: h(), labels: { rack: "4" } }) },
  "hosts.remove": { need: "admin", call: async (a) => a.hosts.remove.mutate({ id: await freshHost() }) },
  "hosts.revokeCredential": { need: "admin", call: async (a) => a.hosts.revokeCredential.mutate({ id: await freshHost() }) },

  "joinTokens.create": { need: "admin", call: (a) => a.joinTokens.create.mutate({ teamId }) },
  "joinTokens.list": { need: "admin", call: (a) => a.joinTokens.list.query() },
  "joinTokens.revoke": {
    need: "admin",
    call: async (a) => a.joinTokens.revoke.mutate({ id: (await owner.trpc.joinTokens.create.mutate({})).record.id }),
  },

  "images.list": { need: "viewer", call: (a) => a.images.list.query({ hostId: h() }) },
  "images.inspect": { need: "viewer", call: (a) => a.images.inspect.query({ hostId: h(), name: "busybox" }) },
  "images.history": { need: "viewer", call: (a) => a.images.history.query({ hostId: h(), name: "busybox" }) },
  "images.pull": { need: "operator", call: (a) => a.images.pull.mutate({ hostId: h(), reference: "busybox" }) },
  "images.pullProgress": { need: "viewer", call: (_a, headers) => progressOnce(headers) },
  "images.push": { need: "operator", call: (a) => a.images.push.mutate({ hostId: h(), name: "busybox" }) },
  "images.tag": { need: "operator", call: (a) => a.images.tag.mutate({ hostId: h(), source: "busybox", target: "bb:2" }) },
  "images.remove": { need: "operator", call: (a) => a.images.remove.mutate({ hostId: h(), name: "busybox" }) },
  "images.prune": { need: "operator", call: (a) => a.images.prune.mutate({ hostId: h() }) },

  "registries.list": { need: "operator", call: (a) => a.registries.list.query() },
  "registries.create": { need: "admin", call: (a) => a.registries.create.mutate({ teamId, address: `r${++userSeq}.example.com` }) },
  "registries.update": { need: "admin", call: async (a) => a.registries.update.mutate({ id: (await freshRegistry()).id, username: "ci" }) },
  "registries.remove": { need: "admin", call: async (a) => a.registries.remove.mutate({ id: (await freshRegistry()).id }) },

  "containers.list": { need: "viewer", call: (a) => a.containers.list.query({ hostId: h() }) },
  "containers.inspect": { need: "viewer", call: (a) => a.containers.inspect.query(cref()) },
  "containers.logs": { need: "viewer", call: (a) => a.containers.logs.query(cref()) },
  "containers.top": { need: "viewer", call: (a) => a.containers.top.query(cref()) },
  "containers.stats": { need: "viewer", call: (a) => a.containers.stats.query(cref()) },
  "containers.statsHistory": { need: "viewer", call: (a) => a.containers.statsHistory.query(cref()) },
  "containers.create": { need: "operator", call: (a) => a.containers.create.mutate({ hostId: h(), config: { Image: "busybox" } }) },
  "containers.run": { need: "operator", call: (a) => a.containers.run.mutate({ hostId: h(), config: { Image: "busybox" } }) },
  "containers.start": { need: "operator", call: (a) => a.containers.start.mutate(cref()) },
  "containers.stop": { need: "operator", call: (a) => a.containers.stop.mutate(cref()) },
  "containers.restart": { need: "operator", call: (a) => a.containers.restart.mutate(cref()) },
  "containers.kill": { need: "operator", call: (a) => a.containers.kill.mutate(cref()) },
  "containers.pause": { need: "operator", call: (a) => a.containers.pause.mutate(cref()) },
  "containers.unpause": { need: "operator", call: (a) => a.containers.unpause.mutate(cref()) },
  "containers.remove": { need: "operator", call: (a) => a.containers.remove.mutate(cref()) },
  "containers.rename": { need: "operator", call: (a) => a.containers.rename.mutate({ ...cref(), name: "c2" }) },
  "containers.update": { need: "operator", call: (a) => a.containers.update.mutate({ ...cref(), hostConfig: { Memory: 64 << 20 } }) },

  "volumes.list": { need: "viewer", call: (a) => a.volumes.list.query({ hostId: h() }) },
  "volumes.inspect": { need: "viewer", call: (a) => a.volumes.inspect.query({ hostId: h(), name: "v1" }) },
  "volumes.create": { need: "operator", call: (a) => a.volumes.create.mutate({ hostId: h(), name: "v1" }) },
  "volumes.remove": { need: "operator", call: (a) => a.volumes.remove.mutate({ hostId: h(), name: "v1" }) },
  "volumes.prune": { need: "operator", call: (a) => a.volumes.prune.mutate({ hostId: h() }) },

  "networks.list": { need: "viewer", call: (a) => a.networks.list.query({ hostId: h() }) },
  "networks.inspect": { need: "viewer", call: (a) => a.networks.inspect.query({ hostId: h(), id: "n1" }) },
  "networks.create": { need: "operator", call: (a) => a.networks.create.mutate({ hostId: h(), name: "n1" }) },
  "networks.remove": { need: "operator", call: (a) => a.networks.remove.mutate({ hostId: h(), id: "n1" }) },
  "networks.prune": { need: "operator", call: (a) => a.networks.prune.mutate({ hostId: h() }) },
  "networks.connect": { need: "operator", call: (a) => a.networks.connect.mutate({ hostId: h(), id: "n1", container: "c1" }) },
  "networks.disconnect": { need: "operator", call: (a) => a.networks.disconnect.mutate({ hostId: h(), id: "n1", container: "c1" }) },

  "apiTokens.create": { need: "admin", call: (a) => a.apiTokens.create.mutate({ name: "ci", role: "viewer", teamId }) },
  "apiTokens.list": { need: "admin", call: (a) => a.apiTokens.list.query() },
  "apiTokens.revoke": {
    need: "admin",
    call: async (a) =>
      a.apiTokens.revoke.mutate({ id: (await owner.trpc.apiTokens.create.mutate({ name: "x", role: "viewer", teamId })).record.id }),
  },

  "audit.list": { need: "admin", call: (a) => a.audit.list.query({ action: "hosts." }) },

  "fleet.list": { need: "signed-in", call: (a) => a.fleet.list.query({ kind: "container" }) },
  "fleet.search": { need: "signed-in", call: (a) => a.fleet.search.query({ q: "web" }) },

  // Webhook URLs point at a closed loopback port: nothing leaves the machine.
  "webhooks.create": {
    need: "admin",
    call: (a) => a.webhooks.create.mutate({ teamId, name: "hook", url: "http://127.0.0.1:9/hook", events: ["host.offline"] }),
  },
  "webhooks.list": { need: "admin", call: (a) => a.webhooks.list.query() },
  "webhooks.remove": { need: "admin", call: async (a) => a.webhooks.remove.mutate({ id: (await ownerHook()).id }) },
  "webhooks.test": { need: "admin", call: async (a) => a.webhooks.test.mutate({ id: (await ownerHook()).id }) },
  "webhooks.deliveries": { need: "admin", call: async (a) => a.webhooks.deliveries.query({ id: (await ownerHook()).id }) },
  "webhooks.allowlist": { need: "admin", call: (a) => a.webhooks.allowlist.query({ teamId }) },
  "webhooks.setAllowlist": { need: "admin", call: (a) => a.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.1"] }) },

  "invitations.create": { need: "admin", call: (a) => a.invitations.create.mutate({ teamId, role: "viewer" }) },
  "invitations.list": { need: "admin", call: (a) => a.invitations.list.query() },
  "invitations.revoke": {
    need: "admin",
    call: async (a) =>
      a.invitations.revoke.mutate({ id: (await owner.trpc.invitations.create.mutate({ teamId, role: "viewer" })).record.id }),
  },
  "invitations.lookup": {
    need: "public",
    call: async (a) =>
      a.invitations.lookup.query({
        token: new URL((await owner.trpc.invitations.create.mutate({ teamId, role: "viewer" })).link).searchParams.get("invite")!,
      }),
  },

  "policies.get": { need: "viewer", call: (a) => a.policies.get.query({ teamId }) },
  "policies.set": {
    need: "admin",
    call: async (a) => a.policies.set.mutate({ teamId, ...(await owner.trpc.policies.get.query({ teamId })) }),
  },

  "services.list": { need: "signed-in", call: (a) => a.services.list.query() },
  "services.get": { need: "viewer", call: async (a) => a.services.get.query({ id: (await freshService()).id }) },
  "services.tasks": { need: "viewer", call: async (a) => a.services.tasks.query({ id: (await freshService()).id }) },
  "services.history": { need: "viewer", call: async (a) => a.services.history.query({ id: (await freshService()).id }) },
  "services.create": {
    need: "operator",
    call: (a) => a.services.create.mutate({ teamId, spec: { name: `s-${++userSeq}`, task: { image: "busybox" } } }),
  },
  "services.update": {
    need: "operator",
    call: async (a) => {
      const s = await freshService();
      return a.services.update.mutate({ id: s.id, version: 1, spec: { ...s.spec, task: { ...s.spec.task, env: ["A=1"] } } });
    },
  },
  "services.scale": {
    need: "operator",
    call: async (a) => a.services.scale.mutate({ id: (await freshService()).id, version: 1, replicas: 0 }),
  },
  "services.rollback": { need: "operator", call: async (a) => a.services.rollback.mutate({ id: (await freshService()).id, version: 1 }) },
  "services.resume": { need: "operator", call: async (a) => a.services.resume.mutate({ id: (await freshService()).id }) },
  "services.pause": { need: "operator", call: async (a) => a.services.pause.mutate({ id: (await freshService()).id }) },
  "services.remove": { need: "operator", call: async (a) => a.services.remove.mutate({ id: (await freshService()).id }) },
  "services.setAvailability": { need: "operator", call: (a) => a.services.setAvailability.mutate({ hostId: h(), availability: "active" }) },

  "overlays.list": { need: "signed-in", call: (a) => a.overlays.list.query() },
  "overlays.get": { need: "viewer", call: async (a) => a.overlays.get.query({ id: (await freshOverlay()).id }) },
  "overlays.create": { need: "operator", call: (a) => a.overlays.create.mutate({ teamId, name: `ov-${++userSeq}` }) },
  "overlays.remove": { need: "operator", call: async (a) => a.overlays.remove.mutate({ id: (await freshOverlay()).id }) },
  "docker.endpoint": { need: "signed-in", call: (a) => a.docker.endpoint.query() },
  "docker.certificates": { need: "signed-in", call: (a) => a.docker.certificates.query() },
  // This control plane serves plain HTTP: a user gets past authorization to "no TLS here".
  "docker.issueCertificate": { need: "user", call: (a) => a.docker.issueCertificate.mutate() },
  "docker.revokeCertificate": { need: "user", call: (a) => a.docker.revokeCertificate.mutate({ id: "no-such-certificate" }) },
  "stacks.list": { need: "signed-in", call: (a) => a.stacks.list.query() },
  "stacks.get": { need: "viewer", call: async (a) => a.stacks.get.query({ id: await freshStack() }) },
  "stacks.history": { need: "viewer", call: async (a) => a.stacks.history.query({ id: await freshStack() }) },
  "stacks.create": {
    need: "operator",
    call: (a) => a.stacks.create.mutate({ teamId, name: `st-${++userSeq}`, source: stackSource(), deploy: false }),
  },
  "stacks.update": {
    need: "operator",
    call: async (a) => a.stacks.update.mutate({ id: await freshStack(), env: { A: "1" }, deploy: false }),
  },
  "stacks.deploy": { need: "operator", call: async (a) => a.stacks.deploy.mutate({ id: await freshStack() }) },
  "stacks.rollback": { need: "operator", call: async (a) => a.stacks.rollback.mutate({ id: await freshStack(), number: 1 }) },
  "stacks.found": { need: "signed-in", call: (a) => a.stacks.found.query() },
  // The host is not linked: an allowed caller gets "host offline".
  "stacks.adopt": { need: "operator", call: (a) => a.stacks.adopt.mutate({ teamId, hostId, name: "elsewhere" }) },
  "stacks.stop": { need: "operator", call: async (a) => a.stacks.stop.mutate({ id: await freshStack() }) },
  "stacks.pull": { need: "operator", call: async (a) => a.stacks.pull.mutate({ id: await freshGitStack() }) },
  "stacks.webhook": { need: "operator", call: async (a) => a.stacks.webhook.query({ id: await freshGitStack() }) },
  "stacks.remove": { need: "operator", call: async (a) => a.stacks.remove.mutate({ id: await freshStack() }) },
  "builds.list": { need: "signed-in", call: (a) => a.builds.list.query() },
  "builds.get": { need: "viewer", call: async (a) => a.builds.get.query({ id: await finishedBuild() }) },
  "builds.log": { need: "viewer", call: async (a) => a.builds.log.query({ id: await finishedBuild() }) },
  // The host is not linked: an allowed caller gets "host offline".
  "builds.create": {
    need: "operator",
    call: (a) =>
      a.builds.create.mutate({ hostId: h(), source: { kind: "upload", files: [{ path: "Dockerfile", data: "RlJPTSBidXN5Ym94Cg==" }] } }),
  },
  "builds.cancel": { need: "operator", call: async (a) => a.builds.cancel.mutate({ id: await finishedBuild() }) },

  "secrets.list": { need: "signed-in", call: (a) => a.secrets.list.query() },
  "secrets.get": { need: "viewer", call: async (a) => a.secrets.get.query({ id: (await freshFile("secret")).id }) },
  "secrets.create": { need: "operator", call: (a) => a.secrets.create.mutate({ teamId, name: `s-${++userSeq}`, data: "YQ==" }) },
  "secrets.update": {
    need: "operator",
    call: async (a) => a.secrets.update.mutate({ id: (await freshFile("secret")).id, version: 1, labels: { a: "b" } }),
  },
  "secrets.remove": { need: "operator", call: async (a) => a.secrets.remove.mutate({ id: (await freshFile("secret")).id }) },
  "configs.list": { need: "signed-in", call: (a) => a.configs.list.query() },
  "configs.get": { need: "viewer", call: async (a) => a.configs.get.query({ id: (await freshFile("config")).id }) },
  "configs.create": { need: "operator", call: (a) => a.configs.create.mutate({ teamId, name: `c-${++userSeq}`, data: "YQ==" }) },
  "configs.update": {
    need: "operator",
    call: async (a) => a.configs.update.mutate({ id: (await freshFile("config")).id, version: 1, labels: { a: "b" } }),
  },
  "configs.remove": { need: "operator", call: async (a) => a.configs.remove.mutate({ id: (await freshFile("config")).id }) },
  "images.distribution": { need: "signed-in", call: (a) => a.images.distribution.query({ reference: "busybox" }) },

  "teams.members": { need: "admin", call: (a) => a.teams.members.query({ teamId }) },
  "teams.setRole": { need: "admin", call: async (a) => a.teams.setRole.mutate({ teamId, userId: await freshMember(), role: "operator" }) },
  "teams.removeMember": { need: "admin", call: async (a) => a.teams.removeMember.mutate({ teamId, userId: await freshMember() }) },
};

/** A service no one runs (replicas 0), for the calls that act on one. */
async function freshService() {
  return owner.trpc.services.create.mutate({
    teamId,
    spec: { name: `svc-${++userSeq}`, task: { image: "busybox" }, mode: { kind: "replicated", replicas: 0 } },
  });
}

/** A stack of one service that runs nothing (replicas 0). */
function stackSource() {
  return {
    files: { "compose.yaml": "services:\n  idle:\n    image: busybox\n    deploy: {replicas: 0}\n" },
    composeFiles: ["compose.yaml"],
  };
}

/** A stack deployed once (deploy #1), for the calls that act on one. */
async function freshStack(): Promise<string> {
  return (await owner.trpc.stacks.create.mutate({ teamId, name: `fresh-st-${++userSeq}`, source: stackSource() })).stack.id;
}

async function freshGitStack(): Promise<string> {
  const git = { url: `${gitServer.url}stacks`, ref: "main", pollSeconds: 0 };
  return (await owner.trpc.stacks.create.mutate({ teamId, name: `fresh-git-${++userSeq}`, git, deploy: false })).stack.id;
}

async function freshOverlay() {
  return owner.trpc.overlays.create.mutate({ teamId, name: `fresh-ov-${++userSeq}` });
}

async function freshFile(kind: "secret" | "config") {
  const procedures = kind === "secret" ? owner.trpc.secrets : owner.trpc.configs;
  return procedures.create.mutate({ teamId, name: `fresh-${kind}-${++userSeq}`, data: "YQ==" });
}

/** A build of the team that has ended, as history holds it. */
async function finishedBuild(): Promise<string> {
  const b = await t.cp.db.build.create({
    data: { teamId, hostName: "h", createdByName: "matrix", sourceKind: "upload", status: "failed" },
  });
  return b.id;
}

async function freshRegistry() {
  return owner.trpc.registries.create.mutate({ teamId, address: `fresh${++userSeq}.example.com` });
}

/**
 * images.pullProgress is a subscription (server-sent events): a refusal arrives at once as an
 * error event; an allowed caller just waits for progress that never comes (no pull runs).
 */
async function progressOnce(headers: Record<string, string>): Promise<unknown> {
  const input = encodeURIComponent(
    JSON.stringify(superjson.serialize({ hostId: h(), progressId: "6f1c9a52-6d3e-4b8e-9d7a-0c2b5e8f1a34" })),
  );
  const res = await fetch(`${t.url}/api/trpc/images.pullProgress?input=${input}`, { headers: { ...headers, accept: "text/event-stream" } });
  if (!res.ok) {
    const body = (await res.json()) as { error?: { json?: { data?: { code?: string }; message?: string } } };
    throw Object.assign(new Error(body.error?.json?.message ?? `HTTP ${res.status}`), { trpcCode: body.error?.json?.data?.code });
  }
  const text = await readFirstEvents(res, 1_500);
  const m = /"code":"([A-Z_]+)"/.exec(text);
  if (text.includes("serialized-error")) throw Object.assign(new Error(text), { trpcCode: m?.[1] });
  return text;
}

async function readFirstEvents(res: Response, waitMs: number): Promise<string> {
  const reader = res.body!.getReader();
  let text = "";
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && !/serialized-error|"done"|"progress"/.test(text)) {
    const next = await Promise.race([
      reader.read(),
      new Promise<null>((r) => setTimeout(() => r(null), Math.max(1, deadline - Date.now()))),
    ]);
    if (!next || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  await reader.cancel();
  return text;
}

function codeOf(e: unknown): string {
  if (e instanceof TRPCClientError) return (e.data as { code?: string } | undefined)?.code ?? "UNKNOWN";
  return (e as { trpcCode?: string }).trpcCode ?? `UNEXPECTED ${String(e)}`;
}

function allowed(need: Need, c: Caller): boolean {
  if (need === "public" || need === "signed-in") return true;
  if (need === "user") return !c.headers.authorization;
  return c.role !== null && RANK[c.role] >= RANK[need];
}

test("the matrix names every procedure of the router", () => {
  const procedures = Object.keys((appRouter as unknown as { _def: { procedures: Record<string, unknown> } })._def.procedures).sort();
  assert.deepEqual(Object.keys(MATRIX).sort(), procedures);
});

test("every procedure × every caller is allowed or refused as the roles say", async () => {
  const failures: string[] = [];
  // Outcomes past authorization: an answer, or an error from the (offline) host or a missing object.
  const PAST_AUTH = new Set(["OK", "PRECONDITION_FAILED", "NOT_FOUND", "CONFLICT"]);
  for (const [path, row] of Object.entries(MATRIX)) {
    for (const c of callers) {
      const api = client(c.headers);
      let code = "OK";
      try {
        await row.call(api, c.headers);
      } catch (e) {
        code = codeOf(e);
      }
      const want = allowed(row.need, c);
      const refused = code === "FORBIDDEN" || code === "UNAUTHORIZED";
      if (want && !PAST_AUTH.has(code)) failures.push(`${path} as ${c.label}: expected allowed, got ${code}`);
      if (!want && !refused) failures.push(`${path} as ${c.label}: expected refused, got ${code}`);
    }
  }
  assert.deepEqual(failures, []);
});

test("an anonymous caller and a bad token are refused everywhere but auth.me", async () => {
  const bad: Array<Record<string, string>> = [
    {},
    { authorization: `Bearer berth_${"0".repeat(48)}` },
    { authorization: "Bearer not-a-token" },
  ];
  for (const headers of bad) {
    const api = client(headers);
    for (const [path, row] of Object.entries(MATRIX)) {
      if (row.need === "public") continue;
      let code = "OK";
      try {
        await row.call(api, headers);
      } catch (e) {
        code = codeOf(e);
      }
      assert.equal(code, "UNAUTHORIZED", `${path} with ${JSON.stringify(headers)}`);
    }
  }
});
