// Stacks kept in git, through the control plane's API and its push webhook: a repository served by
// git daemon on loopback holds two stacks' worth of paths. A commit to the stack's directory plus a
// signed webhook (GitHub, Gitea and GitLab forms) redeploys within 5 s and updates only the service
// that changed; a commit to another path reads the repository and deploys nothing; a bad signature
// gets 401 and reads nothing; the poller picks up a commit by itself; unknown refs, unreachable
// repositories and wrong credentials are refused with clear errors, and a password stays sealed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startTestControlPlane, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { startGitServer, type GitServer } from "@berth/test-support/git-server";
import { waitFor } from "@berth/test-support/wait";

let t: TestControlPlane;
let git: GitServer;
let owner: UserClient;
let teamId: string;

const composeV1 =
  "services:\n  web:\n    image: busybox:1\n    deploy: {replicas: 0}\n  worker:\n    image: busybox:1\n    environment: {MODE: $MODE}\n    deploy: {replicas: 0}\n";

before(async () => {
  git = await startGitServer();
  // The poller looks for due stacks every half second here (15 s by default).
  t = await startTestControlPlane({ env: { BERTH_GIT_POLL_TICK_MS: "500" } });
  owner = await t.signUp("git-stacks@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
});

after(async () => {
  await t?.close();
  await git?.stop();
});

type Headers = Record<string, string>;
const signed = {
  github: (body: string, secret: string): Headers => ({
    "x-github-event": "push",
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  }),
  gitea: (body: string, secret: string): Headers => ({
    "x-gitea-event": "push",
    "x-gitea-signature": createHmac("sha256", secret).update(body).digest("hex"),
  }),
  gitlab: (_body: string, secret: string): Headers => ({ "x-gitlab-event": "Push Hook", "x-gitlab-token": secret }),
};

async function push(url: string, headers: Headers, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("a git stack redeploys on a signed push to its files, and only then", { timeout: 120_000 }, async () => {
  const first = git.commit("ops", { "shop/compose.yaml": composeV1, "shop/.env": "MODE=a\n", "docs/README.md": "ops repo\n" });
  const { stack, deploy } = await owner.trpc.stacks.create.mutate({
    teamId,
    name: "shop",
    git: { url: `${git.url}ops`, ref: "main", path: "shop", pollSeconds: 0 },
  });
  assert.equal(stack.sourceKind, "git");
  assert.equal(stack.git?.commit, first);
  // Only the stack's own files are kept: not docs/, not the repository's other directories.
  assert.deepEqual(Object.keys(stack.source.files).sort(), [".env", "compose.yaml"]);
  assert.equal(deploy?.outcome, "succeeded");
  assert.equal(deploy?.commit, first);
  const hook = await owner.trpc.stacks.webhook.query({ id: stack.id });
  assert.equal(
    await t.cp.db.auditLog.count({ where: { action: "stacks.webhook.shown", target: stack.id } }),
    1,
    "showing the secret is audited",
  );
  assert.match(hook.url, new RegExp(`/api/hooks/stacks/${stack.id}$`));

  // A commit to the stack's .env changes the worker's environment only; GitHub's signature.
  const second = git.commit("ops", { "shop/.env": "MODE=b\n" });
  const body2 = JSON.stringify({ ref: "refs/heads/main", after: second });
  const started = Date.now();
  const r2 = await push(hook.url, signed.github(body2, hook.secret), body2);
  assert.equal(r2.status, 202, JSON.stringify(r2.json));
  const d2 = await waitFor(
    "the push to be deployed",
    async () =>
      (await owner.trpc.stacks.history.query({ id: stack.id })).find((d) => d.commit === second && d.outcome !== "running") ?? null,
    5_000,
    50,
  );
  console.log(`push → deployed: ${Date.now() - started} ms`);
  assert.equal(d2.outcome, "succeeded", d2.error ?? "");
  assert.equal(d2.reason, "git");
  assert.deepEqual(d2.summary.updated, ["shop_worker"]);
  assert.deepEqual(d2.summary.unchanged, ["shop_web"]);

  // A commit elsewhere in the repository: read (the stack's commit moves on), deployed: nothing. Gitea's signature.
  const third = git.commit("ops", { "docs/README.md": "ops repo, edited\n" });
  const body3 = JSON.stringify({ ref: "refs/heads/main", after: third });
  assert.equal((await push(hook.url, signed.gitea(body3, hook.secret), body3)).status, 202);
  await waitFor(
    "the other-path commit to be read",
    async () => (await owner.trpc.stacks.get.query({ id: stack.id })).git?.commit === third,
    5_000,
    50,
  );
  const afterOther = await owner.trpc.stacks.history.query({ id: stack.id });
  assert.equal(afterOther.length, 2, "a push that changed none of the stack's files deployed nothing");

  // A bad signature: 401, audited, and nothing read.
  const fourth = git.commit("ops", {
    "shop/compose.yaml": composeV1.replace("image: busybox:1\n    deploy", "image: busybox:2\n    deploy"),
  });
  const body4 = JSON.stringify({ ref: "refs/heads/main", after: fourth });
  const forged = await push(hook.url, signed.github(body4, "not-the-secret"), body4);
  assert.equal(forged.status, 401);
  const unsigned = await push(hook.url, {}, body4);
  assert.equal(unsigned.status, 401);
  // A push to another branch is answered but moves nothing.
  const other = await push(
    hook.url,
    signed.github(JSON.stringify({ ref: "refs/heads/dev" }), hook.secret),
    JSON.stringify({ ref: "refs/heads/dev" }),
  );
  assert.equal(other.status, 202);
  assert.equal(other.json.accepted, false);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await owner.trpc.stacks.get.query({ id: stack.id })).git?.commit, third, "a refused delivery read nothing");
  const refusals = await t.cp.db.auditLog.findMany({ where: { action: "stacks.webhook", target: stack.id, result: "error" } });
  assert.equal(refusals.length, 2, "both refused deliveries are in the audit log");

  // GitLab's token form deploys the image change: only web is updated.
  const r4 = await push(hook.url, signed.gitlab(body4, hook.secret), body4);
  assert.equal(r4.status, 202);
  const d4 = await waitFor(
    "the GitLab push to be deployed",
    async () =>
      (await owner.trpc.stacks.history.query({ id: stack.id })).find((d) => d.commit === fourth && d.outcome !== "running") ?? null,
    5_000,
    50,
  );
  assert.deepEqual(d4.summary.updated, ["shop_web"]);

  // Polling: a stack polled every minute picks up a commit by itself once its minute is up.
  await owner.trpc.stacks.update.mutate({ id: stack.id, git: { pollSeconds: 60 }, deploy: false });
  const fifth = git.commit("ops", { "shop/.env": "MODE=c\n" });
  await t.cp.db.stack.update({ where: { id: stack.id }, data: { polledAt: new Date(Date.now() - 61_000) } });
  const d5 = await waitFor(
    "the poller to deploy the commit",
    async () =>
      (await owner.trpc.stacks.history.query({ id: stack.id })).find((d) => d.commit === fifth && d.outcome !== "running") ?? null,
    10_000,
    100,
  );
  assert.equal(d5.outcome, "succeeded");
  assert.equal(d5.createdByName, "git");
  assert.deepEqual(d5.summary.updated, ["shop_worker"]);

  // Rollback to #1 holds until a commit brings new stack files: the poller does not undo it.
  const back = await owner.trpc.stacks.rollback.mutate({ id: stack.id, number: 1 });
  assert.equal(back.commit, first);
  await t.cp.db.stack.update({ where: { id: stack.id }, data: { polledAt: new Date(Date.now() - 61_000) } });
  await waitFor(
    "the poller to read again",
    async () => {
      const s = await t.cp.db.stack.findUniqueOrThrow({ where: { id: stack.id } });
      return s.polledAt !== null && Date.now() - s.polledAt.getTime() < 30_000;
    },
    10_000,
    100,
  );
  const latest = (await owner.trpc.stacks.history.query({ id: stack.id }))[0]!;
  assert.equal(latest.reason, "rollback", "the poller did not redeploy over the rollback");

  // Stopped: its services go, a poll that finds new files deploys nothing, and a deploy starts it.
  const stopped = await owner.trpc.stacks.stop.mutate({ id: stack.id });
  assert.deepEqual([...(stopped.summary.removed ?? [])].sort(), ["shop_web", "shop_worker"]);
  const sixth = git.commit("ops", { "shop/.env": "MODE=d\n" });
  await t.cp.db.stack.update({ where: { id: stack.id }, data: { polledAt: new Date(Date.now() - 61_000) } });
  await waitFor(
    "the poller to read the stopped stack",
    async () => (await owner.trpc.stacks.get.query({ id: stack.id })).git?.commit === sixth,
    10_000,
    100,
  );
  assert.equal((await owner.trpc.stacks.history.query({ id: stack.id }))[0]!.reason, "stop", "a stopped stack is not started by a poll");
  const restarted = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
  assert.deepEqual([...(restarted.summary.created ?? [])].sort(), ["shop_web", "shop_worker"]);

  await owner.trpc.stacks.remove.mutate({ id: stack.id });
});

test("bad git sources are refused with clear errors, and a password stays sealed", { timeout: 60_000 }, async () => {
  git.commit("app", { "compose.yaml": "services:\n  web:\n    image: busybox:1\n    deploy: {replicas: 0}\n" });
  const create = (name: string, src: Record<string, unknown>) =>
    trpcError(owner.trpc.stacks.create.mutate({ teamId, name, git: { url: `${git.url}app`, ...src } as never, deploy: false }));

  const ref = await create("badref", { ref: "no-such-branch" });
  assert.equal(ref?.code, "BAD_REQUEST");
  assert.match(ref?.message ?? "", /no such ref/);
  const missing = await create("nofile", { composeFiles: ["stack.yml"] });
  assert.match(missing?.message ?? "", /has no file stack\.yml/);
  const unreachable = await trpcError(
    owner.trpc.stacks.create.mutate({ teamId, name: "gone", git: { url: "git://127.0.0.1:9/none" }, deploy: false }),
  );
  assert.match(unreachable?.message ?? "", /cannot be reached/);
  const local = await trpcError(owner.trpc.stacks.create.mutate({ teamId, name: "local", git: { url: "file:///etc" }, deploy: false }));
  assert.equal(local?.code, "BAD_REQUEST");
  const tooOften = await create("often", { pollSeconds: 10 });
  assert.match(tooOften?.message ?? "", /60 to 86400 seconds/);

  // Over HTTP with Basic auth: a wrong password is named as such; the right one works and is never shown.
  const httpBase = await git.http("deployer", "s3cret-token");
  const wrong = await trpcError(
    owner.trpc.stacks.create.mutate({
      teamId,
      name: "creds",
      git: { url: `${httpBase}app`, username: "deployer", password: "wrong" },
      deploy: false,
    }),
  );
  assert.match(wrong?.message ?? "", /refused the credentials/);
  const { stack } = await owner.trpc.stacks.create.mutate({
    teamId,
    name: "creds",
    git: { url: `${httpBase}app`, username: "deployer", password: "s3cret-token" },
    deploy: false,
  });
  assert.equal(stack.git?.hasPassword, true);
  assert.ok(!JSON.stringify(await owner.trpc.stacks.get.query({ id: stack.id })).includes("s3cret-token"));
  const row = await t.cp.db.stack.findUniqueOrThrow({ where: { id: stack.id } });
  assert.ok(!JSON.stringify(row).includes("s3cret-token"), "the password is sealed in Postgres");
  // The sealed password is used for the next read.
  const next = git.commit("app", { "compose.yaml": "services:\n  web:\n    image: busybox:2\n    deploy: {replicas: 0}\n" });
  const pulled = await owner.trpc.stacks.pull.mutate({ id: stack.id });
  assert.equal(pulled.commit, next);
  assert.equal(pulled.changed, true);
  assert.equal(pulled.deploy, null, "a stack never deployed is not started by a read");
  await owner.trpc.stacks.remove.mutate({ id: stack.id });
});
