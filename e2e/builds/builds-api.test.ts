// Builds through the control plane's API against a real agent: a context of uploaded files, the
// log read back in pieces and resumed over the live stream, a push to the team's registry, a
// cancel that stops the RUN on the host, a failed build's error, a git build with credentials
// that stay sealed, and the input that is refused (git URLs that are local paths, paths that
// lead out of the context).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { create as createTar } from "tar";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { startTestControlPlane, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { linkAgent, type TestAgent } from "@berth/test-support/agent";
import { startGitServer, type GitServer } from "@berth/test-support/git-server";
import { waitFor } from "@berth/test-support/wait";

let t: TestControlPlane;
let mirror: TestRegistry;
let agent: TestAgent | null = null;
let git: GitServer;
let owner: UserClient;
let viewer: UserClient;
let hostId: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-builds-api-"));

const b64 = (s: string) => Buffer.from(s).toString("base64");

before(async () => {
  mirror = await startRegistry();
  await seedBusybox(mirror, tmp);
  git = await startGitServer();
  t = await startTestControlPlane();
  owner = await t.signUp("build-owner@example.com");
  viewer = await t.signUp("build-viewer@example.com");
  ({ agent, hostId } = await linkAgent(t, owner, { stateDir: join(tmp, "agent"), name: "builder", registryMirror: mirror.url }));
});

after(async () => {
  await agent?.stop();
  await t?.close();
  await git?.stop();
  await mirror?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function finished(id: string, timeoutMs = 120_000) {
  return waitFor(
    `build ${id} to end`,
    async () => {
      const b = await owner.trpc.builds.get.query({ id });
      return b.finishedAt ? b : null;
    },
    timeoutMs,
  );
}

async function fullLog(id: string): Promise<string> {
  let after = 0;
  let text = "";
  for (;;) {
    const { pieces } = await owner.trpc.builds.log.query({ id, after });
    if (pieces.length === 0) return text;
    for (const p of pieces) text += p.text;
    after = pieces[pieces.length - 1]!.seq;
  }
}

describe("builds from uploaded files", () => {
  test("the image is built on the host, its log kept, and a viewer reads the history", { timeout: 180_000 }, async () => {
    const { id } = await owner.trpc.builds.create.mutate({
      hostId,
      tags: ["uploaded:1"],
      buildArgs: { WHO: "uploader" },
      source: {
        kind: "upload",
        files: [
          {
            path: "Dockerfile",
            data: b64('FROM busybox\nARG WHO\nCOPY app/msg.txt /msg.txt\nRUN echo "built by $WHO" >> /msg.txt\nCMD ["cat", "/msg.txt"]\n'),
          },
          { path: "app/msg.txt", data: b64("from the browser\n") },
        ],
      },
    });
    const b = await finished(id);
    assert.equal(b.status, "succeeded", b.error ?? "");
    assert.match(b.imageId ?? "", /^sha256:[a-f0-9]{64}$/);
    const log = await fullLog(id);
    assert.match(log, /Step 4\/5 : RUN echo "built by \$WHO" >> \/msg.txt/);
    assert.match(log, /Successfully tagged uploaded:1/);
    const images = await owner.trpc.images.list.query({ hostId });
    assert.ok(images.some((i) => i.RepoTags.includes("uploaded:1")));
    const history = await viewer.trpc.builds.list.query();
    const row = history.find((h) => h.id === id);
    assert.equal(row?.createdByName.length ? row.status : "", "succeeded");
    assert.equal(row?.sourceKind, "upload");
    assert.ok((row?.durationMs ?? 0) > 0);
    await trpcError(
      viewer.trpc.builds.create.mutate({
        hostId,
        source: { kind: "upload", files: [{ path: "Dockerfile", data: b64("FROM busybox\n") }] },
      }),
    );
  });

  test("the live log stream resumes after the piece a reader has, and ends with the build", { timeout: 60_000 }, async () => {
    const { id } = await owner.trpc.builds.create.mutate({
      hostId,
      source: {
        kind: "upload",
        files: [{ path: "Dockerfile", data: b64("FROM busybox\nRUN for i in 1 2 3; do echo line-$i; sleep 0.3; done\n") }],
      },
    });
    await finished(id);
    const all = (await owner.trpc.builds.log.query({ id })).pieces;
    assert.ok(all.length >= 2, `pieces: ${JSON.stringify(all)}`);
    const url = `${t.url.replace(/^http/, "ws")}/api/streams/build-logs?build=${id}&after=${all[0]!.seq}`;
    const got = await new Promise<{ seqs: number[]; end: unknown }>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { cookie: owner.cookie, origin: t.url } });
      const seqs: number[] = [];
      ws.on("message", (raw) => {
        const m = JSON.parse(String(raw)) as { t: string; d?: { pieces: Array<{ seq: number }> }; status?: string };
        if (m.t === "data") {
          seqs.push(...m.d!.pieces.map((p) => p.seq));
          ws.send(JSON.stringify({ t: "ack", n: 1 }));
        } else resolve({ seqs, end: m });
      });
      ws.on("error", reject);
    });
    assert.deepEqual(
      got.seqs,
      all.slice(1).map((p) => p.seq),
    );
    assert.deepEqual(got.end, { t: "end", status: "succeeded" });
  });

  test("a failing step fails the build with Docker's message; a bad Dockerfile names its line", { timeout: 60_000 }, async () => {
    const failing = await owner.trpc.builds.create.mutate({
      hostId,
      source: { kind: "upload", files: [{ path: "Dockerfile", data: b64("FROM busybox\nRUN exit 3\n") }] },
    });
    const f = await finished(failing.id);
    assert.equal(f.status, "failed");
    assert.equal(f.error, "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    assert.match(await fullLog(failing.id), /ERROR: The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    const bad = await owner.trpc.builds.create.mutate({
      hostId,
      source: { kind: "upload", files: [{ path: "Dockerfile", data: b64("FROM busybox\nFRUB x\n") }] },
    });
    assert.match((await finished(bad.id)).error ?? "", /line 2: unknown instruction: FRUB/);
  });

  test("cancel stops the build and its RUN container on the host", { timeout: 90_000 }, async () => {
    const { id } = await owner.trpc.builds.create.mutate({
      hostId,
      source: { kind: "upload", files: [{ path: "Dockerfile", data: b64("FROM busybox\nRUN echo sleeping && sleep 300\n") }] },
    });
    await waitFor("the RUN to start", async () => /Running in/.test(await fullLog(id)), 60_000);
    await owner.trpc.builds.cancel.mutate({ id });
    const b = await finished(id, 30_000);
    assert.equal(b.status, "cancelled");
    await waitFor(
      "the build container to go",
      async () => (await owner.trpc.containers.list.query({ hostId, all: true })).every((c) => !(c.Labels ?? {})["berth.build"]),
      30_000,
    );
  });

  test("a context sent as one tarball; a team secret mounted by RUN and required", { timeout: 120_000 }, async () => {
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    const value = "t0ken-for-the-build";
    await owner.trpc.secrets.create.mutate({ teamId, name: "npm_token", data: b64(value) });
    const sum = createHash("sha256").update(value).digest("hex");
    const dir = mkdtempSync(join(tmp, "archive-"));
    writeFileSync(
      join(dir, "Dockerfile"),
      `FROM busybox\nCOPY in.txt /in.txt\nRUN --mount=type=secret,id=npm_token,required=true test "$(sha256sum < /run/secrets/npm_token | cut -c1-64)" = ${sum}\n`,
    );
    writeFileSync(join(dir, "in.txt"), "from a tarball\n");
    const archive = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = createTar({ cwd: dir, gzip: true, portable: true }, ["Dockerfile", "in.txt"]) as unknown as NodeJS.ReadableStream;
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("end", () => resolve(Buffer.concat(chunks)));
      s.on("error", reject);
    });
    const source = { kind: "archive" as const, data: archive.toString("base64") };
    const withSecret = await owner.trpc.builds.create.mutate({ hostId, source, secrets: ["npm_token"] });
    const ok = await finished(withSecret.id);
    assert.equal(ok.status, "succeeded", `${ok.error}\n${await fullLog(withSecret.id)}`);
    // Without the cache: a cached step runs nothing, so it would not ask for the secret (as in BuildKit).
    const without = await owner.trpc.builds.create.mutate({ hostId, source, noCache: true });
    assert.match((await finished(without.id)).error ?? "", /secret npm_token: not found/);
    const unknown = await trpcError(owner.trpc.builds.create.mutate({ hostId, source, secrets: ["nope"] }));
    assert.equal(unknown.code, "NOT_FOUND");
    assert.match(unknown.message, /secret nope not found/);
  });

  test("refused: a context path that leads out, and a git URL that is a local path", async () => {
    const up = await trpcError(
      owner.trpc.builds.create.mutate({ hostId, source: { kind: "upload", files: [{ path: "../etc/x", data: b64("x") }] } }),
    );
    assert.equal(up.code, "BAD_REQUEST");
    assert.match(up.message, /relative and has no \.\./);
    const local = await trpcError(
      owner.trpc.builds.create.mutate({ hostId, source: { kind: "git", url: "file:///etc", ref: "main", path: "" } }),
    );
    assert.equal(local.code, "BAD_REQUEST");
    assert.match(local.message, /https:\/\/, http:\/\/ or git:\/\//);
  });
});

describe("builds from git, and pushes", () => {
  test("a git build records its commit; with push the first tag goes to the team's registry", { timeout: 180_000 }, async () => {
    const commit = git.commit("svc.git", { Dockerfile: "FROM busybox\nCOPY version /version\n", version: "7\n" });
    const reg = await startRegistry();
    try {
      await owner.trpc.registries.create.mutate({ address: `http://${reg.domain}` });
      const tag = `${reg.domain}/team/svc:7`;
      const { id } = await owner.trpc.builds.create.mutate({
        hostId,
        tags: [tag],
        push: true,
        // Credentials a public daemon ignores: they are kept sealed and never shown.
        source: { kind: "git", url: `${git.url}svc.git`, ref: "main", path: "", username: "ci", password: "p4ss-never-shown" },
      });
      const b = await finished(id);
      assert.equal(b.status, "succeeded", `${b.error}\n${await fullLog(id)}`);
      assert.equal(b.gitCommit, commit);
      assert.match(await fullLog(id), new RegExp(`Pushed ${tag.replace(/[.]/g, "\\.")}`));
      const manifest = await fetch(`${reg.url}/v2/team/svc/manifests/7`, {
        headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      });
      assert.equal(manifest.status, 200);
      assert.ok(!JSON.stringify(b).includes("p4ss-never-shown"));
      const row = await t.cp.db.build.findUniqueOrThrow({ where: { id } });
      assert.ok(row.gitPasswordSealed && !row.gitPasswordSealed.includes("p4ss"));
    } finally {
      await reg.stop();
    }
  });
});
