// The builder in process, on a runtime with busybox (no bridge networking): Docker's word
// processing and Dockerfile checks, secret mounts that never reach a layer or the history, cache
// mounts kept between builds, ONBUILD triggers, ADD of archives and of URLs (from a loopback
// server) with checksums, the escape directive, and the context size limit.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { create as createTar } from "tar";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import type { AgentRuntime } from "../src/runtime.ts";
import { Builder, receiveContext, type BuildRequest } from "../src/build/index.ts";
import { parseDockerfile } from "../src/build/dockerfile.ts";
import { keyValues, processWord, processWords } from "../src/build/words.ts";

let rt: AgentRuntime;
let stateDir: string;
let work: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime({ cgroupParent: `/berth-test-${process.pid}` }));
  work = mkdtempSync(join(tmpdir(), "berth-build-"));
});

after(async () => {
  rmSync(work, { recursive: true, force: true });
  await disposeRuntime(rt, stateDir);
});

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(work, "ctx-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** The directory as a client sends it: a tar, read into a context. */
async function contextOf(dir: string) {
  const tar = createTar({ cwd: dir, portable: true }, readdirSync(dir)) as unknown as Readable;
  return receiveContext(tar, mkdtempSync(join(work, "rc-")), 1 << 30);
}

async function build(dir: string, req: Partial<BuildRequest> = {}): Promise<{ id: string; log: string }> {
  let log = "";
  const id = await rt.builder.build(
    await contextOf(dir),
    { dockerfile: "Dockerfile", tags: [], buildArgs: {}, labels: {}, noCache: false, pull: false, network: "none", ...req },
    { stream: (t) => (log += t), aux: () => undefined },
  );
  return { id, log };
}

/** Runs `cmd` in a container of `image` and returns its output. */
async function runIn(image: string, cmd: string): Promise<{ code: number; out: string }> {
  const { Id } = await rt.containers.create({ Image: image, Entrypoint: ["sh", "-c"], Cmd: [cmd], HostConfig: { NetworkMode: "none" } });
  try {
    await rt.containers.start(Id);
    const { StatusCode } = await rt.containers.wait(Id);
    let out = "";
    for await (const e of rt.containers.logs(Id, { stdout: true, stderr: true })) out += e.line;
    return { code: StatusCode, out };
  } finally {
    await rt.containers.remove(Id, { force: true });
  }
}

async function saved(id: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await rt.images.save([id])) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("Docker's word processing", () => {
  const vars = new Map([
    ["A", "one"],
    ["EMPTY", ""],
  ]);
  test("substitution: plain, braced, defaults and alternatives, set-but-empty", () => {
    assert.equal(processWord("$A-${A}", vars, "\\"), "one-one");
    assert.equal(processWord("${NOPE:-x}|${EMPTY:-x}|${EMPTY-x}|${A:+alt}|${NOPE:+alt}", vars, "\\"), "x|x||alt|");
    assert.throws(() => processWord("${NOPE:?must be set}", vars, "\\"), /NOPE: must be set/);
  });
  test("quotes and escapes: single quotes are literal, double quotes expand, the escape char escapes", () => {
    assert.deepEqual(processWords(`'$A x' "$A y" \\$A a\\ b`, vars, "\\"), ["$A x", "one y", "$A", "a b"]);
    assert.equal(processWord("`$A", vars, "`"), "$A");
  });
  test("KEY=VALUE pairs and the legacy form", () => {
    assert.deepEqual(keyValues(`X=1 Y="two words" Z=$A`, vars, "\\"), [
      ["X", "1"],
      ["Y", "two words"],
      ["Z", "one"],
    ]);
    assert.deepEqual(keyValues(`X the rest of the line`, vars, "\\"), [["X", "the rest of the line"]]);
    assert.deepEqual(keyValues(`NAME`, vars, "\\", { bareKeys: true }), [["NAME", undefined]]);
  });
});

describe("Dockerfile checks", () => {
  test("continuations, the escape directive, stages and flags", () => {
    const plan = parseDockerfile("# escape=`\nARG V=1\nFROM busybox AS one\nRUN echo a `\n  b\nCOPY --from=one --chown=1:1 /a /b\n");
    assert.equal(plan.escape, "`");
    assert.equal(plan.globalArgs.length, 1);
    assert.equal(plan.stages[0]!.name, "one");
    assert.match(plan.stages[0]!.steps[0]!.args, /^echo a\s+b$/);
    assert.deepEqual(plan.stages[0]!.steps[1]!.flags.get("chown"), ["1:1"]);
  });
  test("errors name the line", () => {
    assert.throws(() => parseDockerfile("FROM busybox\nBOGUS x\n"), /line 2: unknown instruction: BOGUS/);
    assert.throws(() => parseDockerfile("RUN true\n"), /line 1: no build stage in current context/);
    assert.throws(() => parseDockerfile("FROM busybox\nRUN --bogus true\n"), /line 2: unknown flag: bogus/);
    assert.throws(() => parseDockerfile("FROM a AS x\nFROM b AS x\n"), /line 2: duplicate stage name "x"/);
    assert.throws(() => parseDockerfile(""), /cannot be empty/);
  });
});

describe("RUN mounts", () => {
  const SECRET = "s3cr3t-b3rth-value";
  // The Dockerfile checks the secret by its hash, so that its value is nowhere in the build's own text.
  const SUM = createHash("sha256").update(SECRET).digest("hex");
  test("a secret is readable by RUN and lands in no layer and no history entry", async () => {
    const dir = context({
      Dockerfile:
        `FROM busybox\nRUN --mount=type=secret,id=token test "$(sha256sum < /run/secrets/token | cut -c1-64)" = ${SUM} && echo used > /used\n` +
        `RUN --mount=type=secret,id=token,target=/tmp/t,mode=0444,uid=1000 test "$(stat -c %a:%u /tmp/t)" = 444:1000\n`,
    });
    const { id } = await build(dir, { secrets: new Map([["token", Buffer.from(SECRET)]]) });
    assert.equal((await runIn(id, "cat /used; test -e /run/secrets/token && echo leaked || echo absent")).out, "used\nabsent\n");
    const archive = await saved(id);
    assert.ok(archive.length > 0);
    assert.equal(archive.includes(Buffer.from(SECRET)), false, "the secret's value is in the saved image");
    const history = JSON.stringify((await rt.images.inspect(id)) as unknown);
    assert.equal(history.includes(SECRET), false);
  });

  test("a required secret that was not given fails the build, naming it; a secret in the environment is refused", async () => {
    await assert.rejects(
      build(context({ Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=absent,required=true true\n" })),
      /secret absent: not found/,
    );
    await assert.rejects(
      build(context({ Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=t,env=T true\n" })),
      /line 2: RUN --mount=type=secret,env= is not supported/,
    );
  });

  test("a bind mount of the context is read-only, and a change in what it shows reruns the step", async () => {
    const dir = context({
      Dockerfile:
        "FROM busybox\nRUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /copied && (touch /ctx/x 2>/dev/null && echo writable || echo read-only) > /mode\n",
      "data.txt": "one\n",
    });
    const first = await build(dir);
    assert.equal((await runIn(first.id, "cat /copied /mode")).out, "one\nread-only\n");
    writeFileSync(join(dir, "data.txt"), "two\n");
    const second = await build(dir);
    assert.doesNotMatch(second.log, /Using cache/);
    assert.equal((await runIn(second.id, "cat /copied")).out, "two\n");
  });

  test("a cache mount keeps its files between builds and stays out of the image", async () => {
    const dir = context({
      Dockerfile:
        "FROM busybox\nRUN --mount=type=cache,target=/var/cache/x echo run >> /var/cache/x/log && wc -l < /var/cache/x/log > /count\n",
    });
    const first = await build(dir, { noCache: true });
    const second = await build(dir, { noCache: true });
    const n1 = Number((await runIn(first.id, "cat /count")).out.trim());
    assert.equal(Number((await runIn(second.id, "cat /count")).out.trim()), n1 + 1);
    assert.equal((await runIn(second.id, "ls -A /var/cache/x 2>/dev/null | wc -l")).out.trim(), "0");
  });
});

describe("instructions", () => {
  let server: Server;
  let url = "";
  const payload = Buffer.from("downloaded by ADD\n");
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/file.txt") res.end(payload);
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  after(() => server.close());

  test("ADD unpacks a local tarball and downloads a URL, checked against --checksum", async () => {
    const dir = context({ "inner/hello.txt": "from the tarball\n" });
    await createTar({ gzip: true, file: join(dir, "bundle.tgz"), cwd: join(dir, "inner") }, ["hello.txt"]);
    rmSync(join(dir, "inner"), { recursive: true });
    const sum = createHash("sha256").update(payload).digest("hex");
    writeFileSync(join(dir, "Dockerfile"), `FROM busybox\nADD bundle.tgz /opt/\nADD --checksum=sha256:${sum} ${url}/file.txt /dl/\n`);
    const { id } = await build(dir, { network: "host" });
    assert.equal((await runIn(id, "cat /opt/hello.txt /dl/file.txt")).out, "from the tarball\ndownloaded by ADD\n");
    writeFileSync(join(dir, "Dockerfile"), `FROM busybox\nADD --checksum=sha256:${"0".repeat(64)} ${url}/file.txt /dl/\n`);
    await assert.rejects(build(dir), /checksum mismatch/);
  });

  test("ONBUILD triggers run in the child build, which does not inherit them", async () => {
    const parent = await build(context({ Dockerfile: "FROM busybox\nONBUILD RUN echo triggered > /onbuild\n" }), {
      tags: ["onbuild-parent:1"],
    });
    assert.ok(parent.id);
    const child = await build(context({ Dockerfile: 'FROM onbuild-parent:1\nCMD ["cat", "/onbuild"]\n' }));
    assert.match(child.log, /# Executing 1 build trigger/);
    assert.equal((await runIn(child.id, "cat /onbuild")).out, "triggered\n");
    const inspect = (await rt.images.inspect(child.id)) as { Config: { OnBuild: unknown } };
    assert.equal(inspect.Config.OnBuild, null);
  });

  test("ENV, LABEL, EXPOSE, USER, WORKDIR, ENTRYPOINT, HEALTHCHECK, SHELL and STOPSIGNAL reach the config", async () => {
    const dir = context({
      Dockerfile: [
        "FROM busybox",
        'ENV A=1 B="two words"',
        'LABEL org.example="yes"',
        "EXPOSE 80 53/udp",
        "WORKDIR /srv",
        "WORKDIR data",
        'SHELL ["/bin/sh", "-ec"]',
        "RUN pwd > /where",
        "USER 1000:1000",
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        'ENTRYPOINT ["sh", "-c"]',
        "",
      ].join("\n"),
    });
    const { id } = await build(dir);
    const cfg = ((await rt.images.inspect(id)) as { Config: Record<string, unknown> }).Config;
    assert.ok((cfg.Env as string[]).includes("B=two words"));
    assert.deepEqual(cfg.Labels, { "org.example": "yes" });
    assert.deepEqual(Object.keys(cfg.ExposedPorts as object).sort(), ["53/udp", "80/tcp"]);
    assert.equal(cfg.WorkingDir, "/srv/data");
    assert.equal(cfg.User, "1000:1000");
    assert.equal(cfg.StopSignal, "SIGINT");
    assert.deepEqual(cfg.Healthcheck, { Test: ["CMD-SHELL", "true"], Interval: 5e9, Retries: 2 });
    assert.deepEqual(cfg.Entrypoint, ["sh", "-c"]);
    assert.equal(cfg.Cmd, null);
    assert.equal((await runIn(id, "cat /where")).out, "/srv/data\n");
  });
});

describe("the cache", () => {
  test("survives a restart: a new builder on the same state finds every step", async () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo once > /once\nCMD ["cat", "/once"]\n' });
    const first = await build(dir);
    // What an agent restart leaves: the state directory. A builder made anew reads its cache from there.
    const again = new Builder({
      stateDir,
      images: rt.images,
      containers: rt.containers,
      snapshots: rt.snapshots,
      pull: (r) => rt.images.pull(r),
    });
    let log = "";
    const id = await again.build(
      await contextOf(dir),
      { dockerfile: "Dockerfile", tags: [], buildArgs: {}, labels: {}, noCache: false, pull: false, network: "none" },
      { stream: (t) => (log += t), aux: () => undefined },
    );
    assert.equal(id, first.id);
    assert.equal(log.split("Using cache").length - 1, 2, log);
  });
});

describe("the context", () => {
  test(".dockerignore is applied on the agent too (clients that send everything), and a dotfile keeps its name", async () => {
    const dir = context({
      Dockerfile: "FROM busybox\nCOPY . /app/\n",
      ".dockerignore": "secret.txt\n",
      "secret.txt": "not for the image\n",
      ".env.sample": "KEY=value\n",
      "app.txt": "kept\n",
    });
    const { id } = await build(dir);
    assert.equal((await runIn(id, "ls -A /app | sort | tr '\\n' ' '")).out, ".dockerignore .env.sample Dockerfile app.txt ");
    writeFileSync(join(dir, "Dockerfile"), "FROM busybox\nCOPY secret.txt /x\n");
    await assert.rejects(build(dir), /excluded by \.dockerignore: stat secret\.txt/);
  });

  test("a context over the limit is refused before anything is unpacked", async () => {
    const dir = join(work, "too-big");
    await assert.rejects(receiveContext(Readable.from([Buffer.alloc(4096)]), dir, 1024), /larger than the limit of 1024 bytes/);
    assert.equal(readdirSync(dir).length, 0, "nothing was written");
  });
});
