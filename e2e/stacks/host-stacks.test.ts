// Single-host stacks through the control plane's API against a real agent in a lab namespace
// (runc, bridge networks, volumes): the seed's shape, a web service that depends_on a database service with
// `condition: service_healthy`, starts in order (the web container finds the file the database
// writes when it becomes healthy); a redeploy of the same file touches nothing; an env change
// recreates only the service that reads it; stop stops the containers and a deploy starts them; a dependency that never becomes healthy fails the
// deploy at that step; remove takes containers, network and (asked) volumes. `build:` services are
// built on the host from the stack's own files (inline) or its repository at the deploy's commit
// (git), and rebuilt and recreated only when their context changes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { trpcError, type UserClient } from "@berth/test-support/control-plane";
import { startGitServer } from "@berth/test-support/git-server";
import { waitFor } from "@berth/test-support/wait";
import { startLabHost, type LabHostSetup } from "../support/lab-host.ts";

let setup: LabHostSetup;
let owner: UserClient;
let hostId: string;
let teamId: string;

before(async () => {
  // One lab host: the agent has bridge networking there, as on a server.
  setup = await startLabHost("host-stacks@example.com");
  ({ owner, hostId, teamId } = setup);
});

after(async () => {
  await setup?.stop();
});

// The database becomes healthy when it has written /data/ready (3 s after it starts); the web
// service says whether that file was there when it started.
const compose = (webEnv: string) => `services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 3; echo up > /data/ready; exec sleep 3600"]
    volumes: [data:/data]
    environment: {ROLE: db}
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 60
  web:
    image: busybox
    command: ["sh", "-c", "if test -f /data/ready; then echo web-saw-db-ready; else echo web-started-too-early; fi; exec sleep 3600"]
    volumes: [data:/data]
    environment: {GREETING: "${webEnv}"}
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
volumes:
  data: {}
`;

const source = (text: string) => ({ files: { "compose.yaml": text }, composeFiles: ["compose.yaml"] });

async function projectContainers(project: string) {
  const all = await owner.trpc.containers.list.query({ hostId, all: true });
  return all.filter((c) => c.Labels?.["com.docker.compose.project"] === project);
}

test("the seed's shape on one host: web waits for a healthy db, redeploys touch only what changed", { timeout: 240_000 }, async () => {
  const { stack, deploy } = await owner.trpc.stacks.create.mutate({
    teamId,
    name: "notes",
    target: "host",
    hostId,
    source: source(compose("hi")),
  });
  assert.equal(stack.target, "host");
  assert.equal(deploy?.outcome, "succeeded", deploy?.error ?? "");
  assert.deepEqual(deploy?.summary.created, ["db", "web"]);

  const containers = await projectContainers("notes");
  assert.deepEqual(containers.map((c) => c.Names[0]).sort(), ["/notes-db-1", "/notes-web-1"]);
  const db = containers.find((c) => c.Names[0] === "/notes-db-1")!;
  const web = containers.find((c) => c.Names[0] === "/notes-web-1")!;
  const dbState = await owner.trpc.containers.inspect.query({ hostId, id: db.Id });
  assert.equal(dbState.State.Health?.Status, "healthy", "web was started only once db was healthy");
  const logs = await waitFor(
    "web's first line",
    async () => {
      const lines = await owner.trpc.containers.logs.query({ hostId, id: web.Id });
      return lines.length ? lines.map((l) => l.line).join("\n") : null;
    },
    20_000,
  );
  assert.match(logs, /web-saw-db-ready/);
  assert.doesNotMatch(logs, /too-early/);

  // The same file again: nothing is recreated.
  const same = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
  assert.deepEqual(same.summary.unchanged, ["db", "web"]);
  assert.deepEqual((await projectContainers("notes")).map((c) => c.Id).sort(), [db.Id, web.Id].sort());

  // web's env changes: web alone is recreated, db keeps its container.
  const changed = await owner.trpc.stacks.update.mutate({ id: stack.id, source: source(compose("bonjour")) });
  assert.deepEqual(changed.deploy?.summary.updated, ["web"]);
  assert.deepEqual(changed.deploy?.summary.unchanged, ["db"]);
  const after = await projectContainers("notes");
  assert.ok(
    after.some((c) => c.Id === db.Id),
    "db's container was kept",
  );
  assert.ok(!after.some((c) => c.Id === web.Id), "web's container was recreated");
  const newWeb = after.find((c) => c.Names[0] === "/notes-web-1")!;
  const inspected = await owner.trpc.containers.inspect.query({ hostId, id: newWeb.Id });
  assert.ok(JSON.stringify(inspected).includes("GREETING=bonjour"));

  // Stop: the containers stop and stay; the next deploy starts the same containers again.
  const stopped = await owner.trpc.stacks.stop.mutate({ id: stack.id });
  assert.deepEqual(stopped.summary.stopped, ["db", "web"]);
  const down = await projectContainers("notes");
  assert.equal(down.length, 2);
  assert.ok(
    down.every((c) => c.State === "exited"),
    down.map((c) => c.State).join(", "),
  );
  const started = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
  assert.deepEqual(started.summary.unchanged, ["db", "web"]);
  const up = await projectContainers("notes");
  assert.deepEqual(up.map((c) => c.Id).sort(), down.map((c) => c.Id).sort(), "the same containers, started again");
  assert.ok(up.every((c) => c.State === "running"));

  // Remove with volumes: nothing of the project stays.
  await owner.trpc.stacks.remove.mutate({ id: stack.id, volumes: true });
  assert.equal((await projectContainers("notes")).length, 0);
  const networks = await owner.trpc.networks.list.query({ hostId });
  assert.ok(!networks.some((n) => n.Name === "notes_default"));
  const volumes = await owner.trpc.volumes.list.query({ hostId });
  assert.ok(!volumes.some((v) => v.Name === "notes_data"));
});

test("a dependency that never becomes healthy fails the deploy at its step; a bad host is refused", { timeout: 120_000 }, async () => {
  const sick = `services:
  db:
    image: busybox
    command: ["sleep", "3600"]
    healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 2}
  web:
    image: busybox
    command: ["sleep", "3600"]
    depends_on: {db: {condition: service_healthy}}
`;
  const created = await trpcError(owner.trpc.stacks.create.mutate({ teamId, name: "sick", target: "host", hostId, source: source(sick) }));
  assert.match(created.message, /wait for db \(service_healthy\) before web failed: db is unhealthy/);
  const stack = (await owner.trpc.stacks.list.query()).find((s) => s.name === "sick")!;
  const [failed] = await owner.trpc.stacks.history.query({ id: stack.id });
  assert.equal(failed?.outcome, "failed");
  assert.deepEqual(failed?.summary.created, ["db"], "what ran before the failed step is recorded");
  assert.ok(!(await projectContainers("sick")).some((c) => c.Names[0] === "/sick-web-1"), "web was never started");
  await owner.trpc.stacks.remove.mutate({ id: stack.id });

  // A dependency scaled to 0 can meet no condition: refused at once, not after the wait's timeout.
  const zero = await trpcError(
    owner.trpc.stacks.create.mutate({
      teamId,
      name: "zero",
      target: "host",
      hostId,
      source: source(
        sick.replace(
          '    command: ["sleep", "3600"]\n    healthcheck',
          '    command: ["sleep", "3600"]\n    deploy: {replicas: 0}\n    healthcheck',
        ),
      ),
    }),
  );
  assert.match(zero.message, /start web failed: it depends on db, which has 0 replicas/);
  await owner.trpc.stacks.remove.mutate({ id: (await owner.trpc.stacks.list.query()).find((s) => s.name === "zero")!.id });

  const noHost = await trpcError(owner.trpc.stacks.create.mutate({ teamId, name: "nohost", target: "host", source: source(sick) }));
  assert.match(noHost.message, /needs its host/);
  const fleetSecret = await trpcError(
    owner.trpc.stacks.create.mutate({
      teamId,
      name: "hostsecret",
      target: "host",
      hostId,
      source: source("services:\n  a:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {environment: S}\n"),
    }),
  );
  assert.match(fleetSecret.message, /secrets and configs are not yet supported on a single-host stack/);
});

/** The first line a service's container printed (they print one line, then sleep). */
async function firstLine(project: string, service: string): Promise<string> {
  const c = (await projectContainers(project)).find((x) => x.Names[0] === `/${project}-${service}-1`);
  assert.ok(c, `${project}-${service}-1 exists`);
  return waitFor(
    `${project}-${service}-1's line`,
    async () => (await owner.trpc.containers.logs.query({ hostId, id: c.Id }))[0]?.line.trim() ?? null,
    20_000,
  );
}

test("build: services are built from the stack's files or its repository, again only when their context changes", {
  timeout: 300_000,
}, async () => {
  // Inline: the Dockerfile and what it copies are among the stack's files, under the context's directory.
  const bakedCompose = `services:
  app:
    build: ./app
    command: ["sh", "-c", "cat /msg.txt; exec sleep 3600"]
    stop_grace_period: 1s
`;
  const baked = (msg: string) => ({
    files: { "compose.yaml": bakedCompose, "app/Dockerfile": "FROM busybox\nCOPY msg.txt /msg.txt\n", "app/msg.txt": `${msg}\n` },
    composeFiles: ["compose.yaml"],
  });
  const first = await owner.trpc.stacks.create.mutate({ teamId, name: "baked", target: "host", hostId, source: baked("inline-v1") });
  assert.equal(first.deploy?.outcome, "succeeded", first.deploy?.error ?? "");
  assert.deepEqual(first.deploy?.summary.built, ["app"]);
  assert.deepEqual(first.deploy?.summary.created, ["app"]);
  assert.equal(await firstLine("baked", "app"), "inline-v1");
  const builds = await owner.trpc.builds.list.query({ hostId });
  assert.ok(
    builds.some((b) => b.sourceKind === "stack" && b.tags.includes("baked-app") && b.status === "succeeded"),
    "the build is recorded with the others",
  );
  const again = await owner.trpc.stacks.deploy.mutate({ id: first.stack.id });
  assert.deepEqual(again.summary.built, [], "an unchanged context is not built again");
  assert.deepEqual(again.summary.unchanged, ["app"]);
  const v2 = await owner.trpc.stacks.update.mutate({ id: first.stack.id, source: baked("inline-v2") });
  assert.deepEqual(v2.deploy?.summary.built, ["app"]);
  assert.deepEqual(v2.deploy?.summary.updated, ["app"]);
  assert.equal(await firstLine("baked", "app"), "inline-v2");
  await owner.trpc.stacks.remove.mutate({ id: first.stack.id });

  // A context outside the stack, or one the stack has no files for, is refused before anything runs.
  const outside = await trpcError(
    owner.trpc.stacks.create.mutate({
      teamId,
      name: "outside",
      target: "host",
      hostId,
      source: { files: { "compose.yaml": "services:\n  a:\n    build: ../elsewhere\n" }, composeFiles: ["compose.yaml"] },
    }),
  );
  assert.match(outside.message, /services\.a\.build: build context \.\.\/elsewhere: a context stays inside the stack's directory/);
  const empty = await trpcError(
    owner.trpc.stacks.create.mutate({
      teamId,
      name: "empty",
      target: "host",
      hostId,
      source: { files: { "compose.yaml": "services:\n  a:\n    build: ./nothing\n" }, composeFiles: ["compose.yaml"] },
    }),
  );
  assert.match(empty.message, /build a failed: the stack has no files under nothing to build from/);
  await owner.trpc.stacks.remove.mutate({ id: (await owner.trpc.stacks.list.query()).find((s) => s.name === "empty")!.id });

  // Git: the context is a directory of the repository, read at the deploy's commit.
  const git = await startGitServer();
  try {
    const gitCompose = `services:
  web:
    build: {context: web, args: {WHO: berth}}
    command: ["sh", "-c", "cat /page.txt; exec sleep 3600"]
    stop_grace_period: 1s
  cache:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`;
    const c1 = git.commit("apps", {
      "notes/compose.yaml": gitCompose,
      "notes/web/Dockerfile": 'FROM busybox\nARG WHO\nCOPY page.txt /page.txt\nRUN echo "by $WHO" >> /page.txt\n',
      "notes/web/page.txt": "git-v1\n",
      "notes/README.md": "notes\n",
    });
    const made = await owner.trpc.stacks.create.mutate({
      teamId,
      name: "gitnotes",
      target: "host",
      hostId,
      git: { url: `${git.url}apps`, ref: "main", path: "notes", pollSeconds: 0 },
    });
    assert.equal(made.deploy?.outcome, "succeeded", made.deploy?.error ?? "");
    assert.deepEqual(made.deploy?.summary.built, ["web"]);
    assert.equal(await firstLine("gitnotes", "web"), "git-v1");
    const gitBuild = (await owner.trpc.builds.list.query({ hostId })).find((b) => b.tags.includes("gitnotes-web"));
    assert.equal(gitBuild?.gitCommit, c1, "built at the deploy's commit");
    assert.equal(gitBuild?.gitPath, "notes/web");

    // A commit to the stack's directory but outside every context and stack file: nothing to deploy.
    git.commit("apps", { "notes/README.md": "notes, again\n" });
    const idle = await owner.trpc.stacks.pull.mutate({ id: made.stack.id });
    assert.equal(idle.changed, false);
    assert.equal(idle.deploy, null);

    // A commit to web's code: web is built and recreated, cache is left alone.
    const webBefore = (await projectContainers("gitnotes")).find((c) => c.Names[0] === "/gitnotes-web-1")!;
    const cacheBefore = (await projectContainers("gitnotes")).find((c) => c.Names[0] === "/gitnotes-cache-1")!;
    const c3 = git.commit("apps", { "notes/web/page.txt": "git-v2\n" });
    const pulled = await owner.trpc.stacks.pull.mutate({ id: made.stack.id });
    assert.equal(pulled.changed, true);
    assert.equal(pulled.deploy?.commit, c3);
    assert.deepEqual(pulled.deploy?.summary.built, ["web"]);
    assert.deepEqual(pulled.deploy?.summary.updated, ["web"]);
    assert.deepEqual(pulled.deploy?.summary.unchanged, ["cache"]);
    const now = await projectContainers("gitnotes");
    assert.ok(now.some((c) => c.Id === cacheBefore.Id) && !now.some((c) => c.Id === webBefore.Id));
    assert.equal(await firstLine("gitnotes", "web"), "git-v2");

    // A rollback builds the earlier commit's code again.
    const back = await owner.trpc.stacks.rollback.mutate({ id: made.stack.id, number: 1 });
    assert.equal(back.outcome, "succeeded", back.error ?? "");
    assert.deepEqual(back.summary.built, ["web"]);
    assert.equal(await firstLine("gitnotes", "web"), "git-v1");

    // A context the repository does not have is named when the stack is read.
    git.commit("apps", { "broken/compose.yaml": "services:\n  a:\n    build: ./missing\n" });
    const broken = await trpcError(
      owner.trpc.stacks.create.mutate({
        teamId,
        name: "broken",
        target: "host",
        hostId,
        git: { url: `${git.url}apps`, path: "broken", pollSeconds: 0 },
      }),
    );
    assert.match(broken.message, /has no directory broken\/missing at commit/);
    await owner.trpc.stacks.remove.mutate({ id: made.stack.id, volumes: true });
  } finally {
    await git.stop();
  }
});
