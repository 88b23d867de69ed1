// `docker build` against a standalone agent with the docker CLIs this machine has (Debian's 20.10,
// and v28 where present; neither has buildx, so both use the classic API), plain and with
// DOCKER_BUILDKIT=0: a multi-stage Dockerfile with ARG before FROM, COPY --from with --chown,
// heredoc RUN and COPY, --target, a skipped stage that would fail, and a .dockerignore'd file.
// Then -q and --iidfile, the cache (unchanged, one file changed, only an mtime touched), a failing
// RUN, bad input, and docker-compose's `build:`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dockerCli, dockerClis, type DockerCli } from "@berth/test-support/docker-cli";
import { startStandaloneAgent, type StandaloneAgent } from "../docker-clients/standalone-agent.ts";

let agent: StandaloneAgent;
let ctxDir: string;

const DOCKERFILE = `ARG BASE=busybox
FROM \${BASE} AS base
ARG GREETING=hello
RUN echo "$GREETING" > /greeting

FROM base AS builder
ARG GREETING
WORKDIR /src
COPY app/ ./
RUN <<EOF
set -e
cat a.txt b.txt > /combined
echo built > /built
EOF
COPY <<EOT /etc/banner
banner \${GREETING:-none}
EOT

FROM busybox AS unused
RUN exit 1

FROM busybox AS final
COPY --from=builder --chown=1000:1000 /combined /app/combined
COPY --from=builder /built /app/
COPY app/ /app/src/
RUN cat /app/combined > /app/copy-of-combined
CMD ["cat", "/app/combined"]
`;

/** Steps of the final target: every one except the two FROMs that are not cached. */
const CACHED_STEPS = DOCKERFILE.split("\n").filter((l) => /^(RUN|COPY|WORKDIR|CMD)\b/.test(l) && !l.includes("exit 1")).length;

function writeContext(dir: string): void {
  mkdirSync(join(dir, "app"), { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), DOCKERFILE);
  writeFileSync(join(dir, "app", "a.txt"), "alpha\n");
  writeFileSync(join(dir, "app", "b.txt"), "beta\n");
  writeFileSync(join(dir, "app", "secret.txt"), "must not be in the image\n");
  writeFileSync(join(dir, ".dockerignore"), "app/secret.txt\n");
}

before(async () => {
  agent = await startStandaloneAgent("build");
  ctxDir = join(agent.dir, "ctx");
  writeContext(ctxDir);
});

after(async () => {
  await agent?.stop();
});

async function ok(docker: DockerCli, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = Object.keys(env).length ? await runWithEnv(docker, args, env) : await docker.run(args, { timeoutMs: 180_000 });
  assert.equal(
    r.code,
    0,
    `docker ${args.join(" ")} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}\nagent:\n${agent.log().slice(-3000)}`,
  );
  return r.stdout;
}

/** The CLI with more environment (DOCKER_BUILDKIT=0). */
function runWithEnv(
  docker: DockerCli,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(docker.bin, args, { env: { ...docker.env, ...env }, timeout: 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

for (const bin of dockerClis()) {
  describe(`docker build with ${bin}`, () => {
    let docker: DockerCli;
    const tag = `built-${bin.replace(/\W/g, "")}`;
    before(() => {
      docker = dockerCli(agent.socket, join(agent.dir, "docker-config"), bin);
    });

    for (const [mode, env] of [
      ["plain", {}],
      ["DOCKER_BUILDKIT=0", { DOCKER_BUILDKIT: "0" }],
    ] as const) {
      test(`a multi-stage build (${mode}): stages, --from with --chown, heredocs, .dockerignore`, async () => {
        const out = await ok(docker, ["build", "-t", `${tag}:${mode === "plain" ? "a" : "b"}`, ctxDir], env);
        assert.match(out, /Step 1\/\d+ : ARG|Step 1\/\d+ : FROM \$\{BASE\} AS base/);
        assert.match(out, /Successfully built [0-9a-f]{12}/);
        assert.match(out, new RegExp(`Successfully tagged ${tag}:${mode === "plain" ? "a" : "b"}`));
        assert.doesNotMatch(out, /FROM busybox AS unused/, "the unused stage is skipped");
        const image = `${tag}:${mode === "plain" ? "a" : "b"}`;
        assert.equal(await ok(docker, ["run", "--rm", image]), "alpha\nbeta\n");
        assert.equal((await ok(docker, ["run", "--rm", image, "stat", "-c", "%u:%g", "/app/combined"])).trim(), "1000:1000");
        assert.equal((await ok(docker, ["run", "--rm", image, "ls", "/app/src"])).trim().split("\n").join(","), "a.txt,b.txt");
        assert.equal(await ok(docker, ["run", "--rm", image, "cat", "/app/built", "/app/copy-of-combined"]), "built\nalpha\nbeta\n");
      });
    }

    test("--target builds the stage it names: its heredoc COPY expanded the build's ARG", async () => {
      await ok(docker, ["build", "--target", "builder", "--build-arg", "GREETING=howdy", "-t", `${tag}:builder`, ctxDir]);
      assert.equal(
        await ok(docker, ["run", "--rm", `${tag}:builder`, "cat", "/etc/banner", "/greeting", "/built"]),
        "banner howdy\nhowdy\nbuilt\n",
      );
      assert.equal((await ok(docker, ["run", "--rm", `${tag}:builder`, "pwd"])).trim(), "/src");
    });

    test("-q prints only the ID, and --iidfile holds the same one", async () => {
      const quiet = (await ok(docker, ["build", "-q", ctxDir])).trim();
      assert.match(quiet, /^sha256:[0-9a-f]{64}$/);
      const iid = join(agent.dir, `iid-${tag}`);
      await ok(docker, ["build", "--iidfile", iid, ctxDir]);
      assert.equal(readFileSync(iid, "utf8").trim(), quiet);
    });
  });
}

describe("the build cache", () => {
  let docker: DockerCli;
  before(() => {
    docker = dockerCli(agent.socket, join(agent.dir, "docker-config"), dockerClis()[0]!);
  });
  const usingCache = (out: string) => out.split("\n").filter((l) => l.includes("---> Using cache")).length;

  test("an unchanged rebuild uses the cache for every step; an mtime alone changes nothing; one changed file reruns from its COPY", async () => {
    const dir = join(agent.dir, "cache-ctx");
    writeContext(dir);
    await ok(docker, ["build", "-t", "cache-test", dir]);
    const again = await ok(docker, ["build", "-t", "cache-test", dir]);
    assert.equal(usingCache(again), CACHED_STEPS, again);
    const id = (await ok(docker, ["image", "inspect", "-f", "{{.Id}}", "cache-test"])).trim();

    utimesSync(join(dir, "app", "a.txt"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const touched = await ok(docker, ["build", "-t", "cache-test", dir]);
    assert.equal(usingCache(touched), CACHED_STEPS, touched);
    assert.equal((await ok(docker, ["image", "inspect", "-f", "{{.Id}}", "cache-test"])).trim(), id);

    writeFileSync(join(dir, "app", "a.txt"), "ALPHA\n");
    const changed = await ok(docker, ["build", "-t", "cache-test", dir]);
    // Cached: the base stage's RUN and the builder's WORKDIR (ARG is no step of its own); the builder's COPY app/ and all after it rerun.
    const lines = changed.split("\n");
    const copyStep = lines.findIndex((l) => /Step \d+\/\d+ : COPY app\/ \.\//.test(l));
    assert.ok(copyStep > 0, changed);
    assert.equal(usingCache(lines.slice(0, copyStep).join("\n")), 2, changed);
    assert.equal(usingCache(lines.slice(copyStep).join("\n")), 0, changed);
    assert.equal(await ok(docker, ["run", "--rm", "cache-test"]), "ALPHA\nbeta\n");
  });

  test("--pull pulls the base again, labels and several tags land on the image, and image prune empties the cache", async () => {
    const dir = join(agent.dir, "labels-ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), "FROM busybox\nRUN echo labelled > /l\n");
    const out = await ok(docker, ["build", "--pull", "--label", "org.example.team=infra", "-t", "multi:1", "-t", "multi:latest", dir]);
    assert.match(out, /Pulling busybox/);
    assert.match(out, /Successfully tagged multi:1\nSuccessfully tagged multi:latest/);
    assert.equal((await ok(docker, ["image", "inspect", "-f", '{{index .Config.Labels "org.example.team"}}', "multi:1"])).trim(), "infra");
    assert.equal(
      (await ok(docker, ["image", "inspect", "-f", "{{.Id}}", "multi:latest"])).trim(),
      (await ok(docker, ["image", "inspect", "-f", "{{.Id}}", "multi:1"])).trim(),
    );
    await ok(docker, ["rmi", "multi:1", "multi:latest"]);
    await ok(docker, ["image", "prune", "-f"]);
    assert.equal(usingCache(await ok(docker, ["build", "--label", "org.example.team=infra", "-t", "multi:1", dir])), 0);
  });

  test("docker builder prune empties the cache, and the next build runs every step", async () => {
    const dir = join(agent.dir, "prune-ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), "FROM busybox\nRUN echo pruned > /p\n");
    await ok(docker, ["build", "-t", "prune-test", dir]);
    assert.equal(usingCache(await ok(docker, ["build", "-t", "prune-test", dir])), 1);
    await ok(docker, ["rmi", "prune-test"]);
    await ok(docker, ["builder", "prune", "-f"]);
    assert.equal(usingCache(await ok(docker, ["build", "-t", "prune-test", dir])), 0);
  });
});

describe("failures and bad input", () => {
  let docker: DockerCli;
  before(() => {
    docker = dockerCli(agent.socket, join(agent.dir, "docker-config"), dockerClis()[0]!);
  });

  async function failing(dockerfile: string, extra: (dir: string) => void = () => undefined): Promise<string> {
    const dir = join(agent.dir, `bad-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    extra(dir);
    const r = await docker.run(["build", dir], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, `expected exit 1:\n${r.stdout}\n${r.stderr}`);
    return r.stderr;
  }

  test("a failing RUN ends the build with Docker's message", async () => {
    const err = await failing("FROM busybox\nRUN exit 3\n");
    assert.match(err, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
  });

  test("a syntax error, an unknown instruction and an unknown flag name their line", async () => {
    assert.match(await failing("FROM busybox\nRUN true\nFRUB x\n"), /line 3: unknown instruction: FRUB/);
    assert.match(await failing("FROM busybox\nCOPY --frob=1 a /b\n"), /line 2: unknown flag: frob/);
    assert.match(await failing("FROM busybox AS\n"), /line 1: FROM requires either one or three arguments/);
  });

  test("--platform for another architecture is refused, naming this host's", async () => {
    const dir = join(agent.dir, "platform-ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), "FROM busybox\n");
    const other = process.arch === "arm64" ? "linux/amd64" : "linux/arm64";
    const r = await docker.run(["build", "--platform", other, dir], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`builds for linux/\\w+ only; ${other} was asked for`));
  });

  test("COPY sources outside the context are refused: ../x, absolute paths, and symlinks that lead out", async () => {
    assert.match(await failing("FROM busybox\nCOPY ../x /x\n"), /forbidden path outside the build context: \.\.\/x/);
    assert.match(await failing("FROM busybox\nCOPY /etc/passwd /x\n"), /\/etc\/passwd is an absolute path/);
    // The CLI sends a symlink as a symlink; following it would read the agent's /etc.
    assert.match(
      await failing("FROM busybox\nCOPY leak /x\n", (dir) => symlinkSync("/etc/hostname", join(dir, "leak"))),
      /forbidden path outside the build context: leak/,
    );
  });
});

describe("docker-compose 1.29 builds a service with build:", () => {
  test("docker-compose build, then the image runs", async () => {
    const dir = join(agent.dir, "compose-build");
    mkdirSync(join(dir, "web"), { recursive: true });
    writeFileSync(join(dir, "web", "Dockerfile"), 'FROM busybox\nARG MSG\nRUN echo "$MSG" > /msg\nCMD ["cat", "/msg"]\n');
    writeFileSync(
      join(dir, "docker-compose.yml"),
      "version: '3.8'\nservices:\n  web:\n    build:\n      context: ./web\n      args:\n        MSG: composed\n    image: composed-web:1\n",
    );
    const r = await agent.run("docker-compose", ["--ansi", "never", "-p", `cb${process.pid}`, "build"], {
      cwd: dir,
      timeoutMs: 180_000,
      env: { DOCKER_CONFIG: join(agent.dir, "docker-config") },
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${agent.log().slice(-2000)}`);
    const docker = dockerCli(agent.socket, join(agent.dir, "docker-config"), dockerClis()[0]!);
    assert.equal(await ok(docker, ["run", "--rm", "composed-web:1"]), "composed\n");
  });
});
