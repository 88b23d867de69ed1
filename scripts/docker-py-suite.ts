// Runs docker-py's own integration suite (a checkout of docker/docker-py, tag 7.1.0) against a
// Berth agent and/or Debian's dockerd 20.10 at API 1.41, and optionally a three-service
// docker-compose 1.29 scenario, then prints the results side by side.
//
//   npx tsx scripts/docker-py-suite.ts [--against berth|dockerd|both] [--docker-py DIR] [--out DIR]
//                                      [--compose [--compose-file FILE]] [--no-build] [-k EXPR] [--pytest-opt ARG]...
//
// Needs root, Debian's python3 with python3-pytest and python3-paramiko (python3-pytest-timeout
// optional), docker.io (dockerd and the docker CLI), docker-registry, docker-compose, busybox-static.
// The checkout comes from --docker-py or DOCKER_PY_DIR. Everything runs in a network namespace of
// its own with no route out; "Docker Hub" is a local docker-registry in that namespace that both
// daemons use as their registry mirror, seeded with busybox-based stand-ins for alpine:3.10,
// alpine:latest, busybox:latest and hello-world:latest. Swarm, plugin, secret, config, service and
// build tests are left out (EXCLUDED_FILES, EXCLUDED_TESTS), as are the credential-helper tests, which need no daemon.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { agentBundlePath, buildAgentBundle } from "./build.ts";
import { exitOf, hasExited, stopChild } from "./child-process.ts";

const run = promisify(execFile);
type Daemon = "berth" | "dockerd";

const PYTHON = "/usr/bin/python3"; // Debian's, not a pyenv shim: its dist-packages hold pytest
const API_VERSION = "1.41";
const REGISTRY = "127.0.0.1:5000"; // inside the namespace
const CGROUP_PARENT = "dockerpy-berth";
const SUITE_TIMEOUT_MS = 40 * 60_000;

/** Files and single tests left out, for both daemons. */
const EXCLUDED_FILES = [
  "api_swarm_test.py",
  "models_swarm_test.py",
  "models_nodes_test.py",
  "models_services_test.py",
  "api_service_test.py",
  "api_secret_test.py",
  "api_config_test.py",
  "api_plugin_test.py",
  "api_build_test.py",
  "credentials",
];
const EXCLUDED_TESTS = [
  // init_swarm()
  "api_network_test.py::TestNetworks::test_create_network_attachable",
  "api_network_test.py::TestNetworks::test_create_network_ingress",
  "api_network_test.py::TestNetworks::test_create_inspect_network_with_scope",
  // image builds
  "models_images_test.py::ImageCollectionTest::test_build",
  "models_images_test.py::ImageCollectionTest::test_build_with_error",
  "models_images_test.py::ImageCollectionTest::test_build_with_multiple_success",
  "models_images_test.py::ImageCollectionTest::test_build_with_success_build_output",
  "regression_test.py::TestRegressions::test_443_handle_nonchunked_response_in_stream",
];

interface Options {
  against: Daemon[];
  dockerPy: string;
  out: string;
  compose: boolean;
  build: boolean;
  keyword?: string;
  /** Extra pytest arguments, e.g. `--pytest-opt -p --pytest-opt some_plugin` (a module in the checkout). */
  pytestOpts: string[];
  /** Replaces COMPOSE_FILE (service names web, writer and client are assumed by COMPOSE_STEPS). */
  composeFile?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    against: ["berth", "dockerd"],
    dockerPy: process.env.DOCKER_PY_DIR ?? "",
    out: "/tmp/dpy-suite",
    compose: false,
    build: true,
    pytestOpts: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--against") {
      const v = value();
      if (v !== "berth" && v !== "dockerd" && v !== "both") throw new Error("--against is berth, dockerd or both");
      o.against = v === "both" ? ["berth", "dockerd"] : [v];
    } else if (a === "--docker-py") o.dockerPy = value();
    else if (a === "--out") o.out = value();
    else if (a === "-k") o.keyword = value();
    else if (a === "--pytest-opt") o.pytestOpts.push(value());
    else if (a === "--compose") o.compose = true;
    else if (a === "--compose-file") o.composeFile = resolve(value());
    else if (a === "--no-build") o.build = false;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.dockerPy) throw new Error("give the docker-py checkout with --docker-py DIR or DOCKER_PY_DIR");
  o.dockerPy = resolve(o.dockerPy);
  o.out = resolve(o.out);
  if (!existsSync(join(o.dockerPy, "tests/integration/base.py"))) throw new Error(`${o.dockerPy} is not a docker-py checkout`);
  return o;
}

// ---- namespace, processes, sockets ----

class Env {
  readonly netns = `dpy-${process.pid}`;
  readonly procs: ChildProcess[] = [];
  constructor(readonly out: string) {}
  get netnsPath(): string {
    return `/run/netns/${this.netns}`;
  }
  /** nsenter --net only: `ip netns exec` would also remount /sys, hiding the cgroup mounts from dockerd. */
  inNetns(cmd: string, args: string[]): [string, string[]] {
    return ["nsenter", [`--net=${this.netnsPath}`, cmd, ...args]];
  }
  spawnLogged(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const log = createWriteStream(join(this.out, "logs", `${name}.log`));
    const [c, a] = this.inNetns(cmd, args);
    const p = spawn(c, a, { stdio: ["ignore", "pipe", "pipe"], env });
    p.stdout!.pipe(log);
    p.stderr!.pipe(log);
    this.procs.push(p);
    return p;
  }
}

/** GET over a unix socket; resolves to the status code, or 0 when nothing answers. */
function getUnix(socketPath: string, path: string): Promise<number> {
  return new Promise((res) => {
    const req = request({ socketPath, path, method: "GET", timeout: 2000 }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on("error", () => res(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

async function waitFor(what: string, p: ChildProcess, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (hasExited(p)) throw new Error(`${what} exited (code ${p.exitCode ?? p.signalCode}); see its log`);
    if (Date.now() > deadline) throw new Error(`${what} did not come up in ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Unmounts everything mounted at or under `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of points) await run("umount", ["-l", m]).catch(() => undefined);
}

/** Removes the agent's cgroup parent (and empty container cgroups in it) from every hierarchy. */
function removeCgroups(): void {
  const roots = ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((d) => join("/sys/fs/cgroup", d))];
  for (const root of roots) {
    const dir = join(root, CGROUP_PARENT);
    if (!existsSync(dir)) continue;
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(dir, e.name));
      rmdirSync(dir);
    } catch {
      // still in use (a container left running): left in place
    }
  }
}

// ---- registry and images ----

async function startRegistry(env: Env): Promise<ChildProcess> {
  const dir = join(env.out, "registry");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "data"), { recursive: true });
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:\n  level: warn\n  accesslog:\n    disabled: true",
      `storage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true`,
      `http:\n  addr: ${REGISTRY}`,
      "",
    ].join("\n"),
  );
  const p = env.spawnLogged("registry", "docker-registry", ["serve", config]);
  const [c, a] = env.inNetns("busybox", ["wget", "-q", "-O", "/dev/null", `http://${REGISTRY}/v2/`]);
  await waitFor(
    "docker-registry",
    p,
    () =>
      run(c, a).then(
        () => true,
        () => false,
      ),
    15_000,
  );
  return p;
}

/**
 * The tars the stand-in images are imported from: a busybox rootfs with the bits of alpine the
 * tests rely on (a postgres user, /var/opt), and a one-file hello-world.
 */
async function writeImageTars(out: string): Promise<{ rootfs: string; hello: string }> {
  const dir = join(out, "alpine-rootfs");
  rmSync(dir, { recursive: true, force: true });
  for (const d of ["bin", "etc", "tmp", "root", "home", "var/opt", "dev", "proc", "sys"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  const { stdout } = await run("/bin/busybox", ["--list-full"]);
  for (const applet of stdout.split("\n").map((l) => l.trim())) {
    if (!/^[a-z0-9/_[\].-]+$/i.test(applet) || applet.includes("..") || applet === "bin/busybox") continue;
    mkdirSync(join(dir, dirname(applet)), { recursive: true });
    if (!existsSync(join(dir, applet))) symlinkSync("/bin/busybox", join(dir, applet));
  }
  writeFileSync(
    join(dir, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/sh",
      "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
      "postgres:x:70:70::/var/lib/postgresql:/bin/sh",
      "nobody:x:65534:65534:nobody:/home:/bin/false",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "etc/group"), "root:x:0:\ndaemon:x:1:\npostgres:x:70:\nnogroup:x:65534:\n");
  chmodSync(join(dir, "tmp"), 0o1777);
  chmodSync(join(dir, "root"), 0o700);
  const rootfs = join(out, "alpine-rootfs.tar");
  await run("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", rootfs, "."]);
  // hello-world needs a layer of its own: test_prune_images expects pruning it to reclaim space.
  const helloDir = join(out, "hello-rootfs");
  mkdirSync(helloDir, { recursive: true });
  writeFileSync(join(helloDir, "hello"), '#!/bin/sh\necho "Hello from Docker!"\n', { mode: 0o755 });
  const hello = join(out, "hello.tar");
  await run("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", helloDir, "-cf", hello, "hello"]);
  return { rootfs, hello };
}

/** The caller's environment without its Docker settings, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(DOCKER_|COMPOSE_)/.test(k)) delete env[k];
  return Object.assign(env, extra);
}

function docker(sock: string, args: string[], timeout = 300_000): Promise<{ stdout: string; stderr: string }> {
  return run("docker", ["-H", `unix://${sock}`, ...args], { timeout, maxBuffer: 64 << 20 });
}

/**
 * Imports the stand-ins through `sock` and pushes them to the mirror. Each gets its own image ID
 * (a label): sharing one ID between alpine:3.10 and the others lets test_prune_images untag TEST_IMG.
 */
async function seedRegistry(sock: string, tars: { rootfs: string; hello: string }): Promise<void> {
  const images: Array<[string, string, string[]]> = [
    ["alpine:3.10", tars.rootfs, ['CMD ["/bin/sh"]']],
    ["alpine:latest", tars.rootfs, ['CMD ["/bin/sh"]']],
    ["busybox:latest", tars.rootfs, ['CMD ["sh"]']],
    ["hello-world:latest", tars.hello, ['CMD ["/hello"]']],
  ];
  for (const [name, tar, changes] of images) {
    const ref = `${REGISTRY}/library/${name}`;
    const ch = [...changes, `LABEL org.berth.docker-py-standin=${name}`].flatMap((c) => ["-c", c]);
    await docker(sock, ["import", ...ch, tar, ref]);
    await docker(sock, ["push", ref]);
    await docker(sock, ["rmi", ref]);
  }
}

// ---- daemons ----

interface Running {
  sock: string;
  proc: ChildProcess;
  stateDirs: string[];
}

async function startDaemon(env: Env, which: Daemon): Promise<Running> {
  const dir = join(env.out, which);
  await unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, "docker.sock");
  let proc: ChildProcess;
  let stateDirs: string[];
  if (which === "berth") {
    const state = join(dir, "state");
    stateDirs = [state];
    const args = [agentBundlePath, "run", "--state-dir", state, "--docker-socket", sock];
    args.push("--registry-mirror", `http://${REGISTRY}`, "--insecure-registry", REGISTRY);
    proc = env.spawnLogged("berth", process.execPath, args, { ...process.env, BERTH_CGROUP_PARENT: `/${CGROUP_PARENT}` });
  } else {
    const root = join(dir, "root");
    const exec = join(dir, "exec");
    stateDirs = [root, exec];
    const args = ["--data-root", root, "--exec-root", exec, "-H", `unix://${sock}`, "--pidfile", join(dir, "dockerd.pid")];
    args.push("--iptables=false", "--registry-mirror", `http://${REGISTRY}`);
    proc = env.spawnLogged("dockerd", "/usr/sbin/dockerd", args);
  }
  await waitFor(which, proc, async () => (await getUnix(sock, "/_ping")) === 200);
  return { sock, proc, stateDirs };
}

async function stopDaemon(d: Running, which: Daemon): Promise<void> {
  // Berth's containers outlive the agent (live restore): remove them while it still answers.
  if (!hasExited(d.proc)) {
    const ids = (await docker(d.sock, ["ps", "-aq"], 60_000).catch(() => ({ stdout: "" }))).stdout.split("\n").filter(Boolean);
    if (ids.length) await docker(d.sock, ["rm", "-f", "-v", ...ids], 120_000).catch(() => undefined);
  }
  await stopChild(d.proc, 30_000);
  for (const s of d.stateDirs) await unmountUnder(s);
  if (which === "berth") removeCgroups();
}

// ---- the suite ----

interface TestResult {
  id: string; // file.py::Class::test
  file: string;
  outcome: "pass" | "fail" | "error" | "skip" | "xfail";
  message: string;
}

async function runSuite(env: Env, opts: Options, which: Daemon, sock: string): Promise<TestResult[]> {
  const T = "tests/integration";
  const hasTimeout = await run(PYTHON, ["-c", "import pytest_timeout"]).then(
    () => true,
    () => false,
  );
  const junit = join(env.out, `${which}.xml`);
  const args = ["-m", "pytest", "-p", "no:cacheprovider", "-v", "-rfEs", `--junitxml=${junit}`];
  if (hasTimeout) args.push("--timeout=120");
  if (opts.keyword) args.push("-k", opts.keyword);
  args.push(...opts.pytestOpts);
  for (const f of EXCLUDED_FILES) args.push(`--ignore=${T}/${f}`);
  for (const t of EXCLUDED_TESTS) args.push("--deselect", `${T}/${t}`);
  args.push(T);
  // A home of its own per run: the context tests write ~/.docker/contexts.
  const home = join(env.out, `home-${which}`);
  rmSync(home, { recursive: true, force: true });
  // With no config file, docker-py keeps contexts in ./contexts of the checkout; give it one.
  mkdirSync(join(home, ".docker"), { recursive: true });
  writeFileSync(join(home, ".docker/config.json"), "{}\n");
  const vars = {
    HOME: home,
    LANG: "C.UTF-8",
    PYTHONPATH: opts.dockerPy,
    DOCKER_HOST: `unix://${sock}`,
    DOCKER_TEST_API_VERSION: API_VERSION,
  };
  const log = createWriteStream(join(env.out, `${which}-pytest.log`));
  const p = spawn(PYTHON, args, { cwd: opts.dockerPy, env: childEnv(vars), stdio: ["ignore", "pipe", "pipe"] });
  p.stdout.pipe(log);
  p.stderr.pipe(log);
  const timer = setTimeout(() => p.kill("SIGKILL"), SUITE_TIMEOUT_MS);
  await exitOf(p);
  clearTimeout(timer);
  if (!existsSync(junit)) throw new Error(`pytest wrote no ${junit}; see ${which}-pytest.log`);
  return parseJunit(readFileSync(junit, "utf8"));
}

function unescapeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/**
 * pytest's xunit2 report: one <testcase> per test, with failure, error or skipped children; a
 * teardown error adds a second <testcase> of the same name, merged here (a failure wins).
 */
function parseJunit(xml: string): TestResult[] {
  const byId = new Map<string, TestResult>();
  const re = /<testcase classname="([^"]*)" name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const parts = m[1]!.split(".");
    const cls = parts.pop()!;
    const file = `${parts.pop()}.py`;
    const body = m[4] ?? "";
    const tag = (t: string) => new RegExp(`<${t}(?: type="([^"]*)")? message="([^"]*)"`).exec(body);
    const failure = tag("failure");
    const error = tag("error");
    const skipped = tag("skipped");
    let outcome: TestResult["outcome"] = "pass";
    let message = "";
    if (failure) [outcome, message] = ["fail", failure[2]!];
    else if (error) [outcome, message] = ["error", error[2]!];
    else if (skipped) [outcome, message] = [skipped[1] === "pytest.xfail" ? "xfail" : "skip", skipped[2]!];
    const id = `${file}::${cls}::${unescapeXml(m[2]!)}`;
    const prev = byId.get(id);
    if (prev && (prev.outcome === "fail" || outcome === "pass")) continue;
    byId.set(id, { id, file, outcome, message: unescapeXml(message) });
  }
  return [...byId.values()];
}

// ---- docker-compose ----

const COMPOSE_FILE = `version: "3.8"
services:
  web:
    image: alpine:3.10
    command: ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    volumes: ["www:/www"]
    ports: ["18080:8080"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 2s
      retries: 10
  writer:
    image: alpine:3.10
    command: ["sh", "-c", "echo hello-from-writer > /www/index.html && exec sleep 3600"]
    volumes: ["www:/www"]
    environment:
      GREETING: hi
    stop_grace_period: 2s
  client:
    image: alpine:3.10
    init: true
    depends_on: [web, writer]
    command: ["sh", "-c", "sleep 2; wget -qO- http://web:8080/index.html; exec sleep 3600"]
    labels:
      com.example.role: client
volumes:
  www: {}
`;

const COMPOSE_STEPS: string[][] = [
  ["up", "-d"],
  ["ps"],
  ["exec", "-T", "client", "wget", "-qO-", "http://web:8080/index.html"],
  ["exec", "-T", "writer", "sh", "-c", "echo $GREETING"],
  ["logs", "--no-color", "--tail=20"],
  ["top"],
  ["port", "web", "8080"],
  ["run", "--rm", "-T", "client", "echo", "run-ok"],
  ["up", "-d", "--scale", "client=2"],
  ["restart", "writer"],
  ["pause", "web"],
  ["unpause", "web"],
  ["stop"],
  ["start"],
  ["down", "-v", "--remove-orphans"],
];

interface ComposeStep {
  cmd: string;
  ok: boolean;
  output: string;
}

async function runCompose(env: Env, which: Daemon, sock: string, composeFile?: string): Promise<ComposeStep[]> {
  const dir = join(env.out, `compose-${which}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "docker-compose.yml");
  writeFileSync(file, composeFile ? readFileSync(composeFile, "utf8") : COMPOSE_FILE);
  const cenv = childEnv({ HOME: dir, DOCKER_HOST: `unix://${sock}`, COMPOSE_API_VERSION: API_VERSION });
  const steps: ComposeStep[] = [];
  for (const step of COMPOSE_STEPS) {
    const args = ["-p", "dpy", "-f", file, ...step];
    const r = await run("docker-compose", args, { env: cenv, timeout: 180_000, maxBuffer: 16 << 20 }).then(
      (o) => ({ ok: true, output: `${o.stdout}${o.stderr}` }),
      (e: { stdout?: string; stderr?: string; message: string }) => ({ ok: false, output: `${e.stdout ?? ""}${e.stderr ?? e.message}` }),
    );
    steps.push({ cmd: step.join(" "), ...r });
    if (step[0] === "up" && step.length === 2) await new Promise((res) => setTimeout(res, 4000)); // let the client fetch once
  }
  // Whatever a failed step left behind.
  if (!steps.at(-1)!.ok) await run("docker-compose", ["-p", "dpy", "-f", file, "down", "-v"], { env: cenv }).catch(() => undefined);
  return steps;
}

// ---- report ----

type Counts = Record<TestResult["outcome"], number>;

function countByFile(results: TestResult[]): Map<string, Counts> {
  const m = new Map<string, Counts>();
  for (const r of results) {
    const c = m.get(r.file) ?? { pass: 0, fail: 0, error: 0, skip: 0, xfail: 0 };
    c[r.outcome]++;
    m.set(r.file, c);
  }
  return m;
}

function printTable(all: Partial<Record<Daemon, TestResult[]>>): void {
  const daemons = (Object.keys(all) as Daemon[]).filter((d) => all[d]);
  const per = new Map(daemons.map((d) => [d, countByFile(all[d]!)]));
  const files = [...new Set(daemons.flatMap((d) => [...per.get(d)!.keys()]))].sort();
  const fmt = (c: Counts | undefined) => (c ? `${c.pass}/${c.fail}/${c.error}/${c.skip + c.xfail}` : "-");
  const rows = [["file", ...daemons.map((d) => `${d} p/f/e/s`)]];
  const total = new Map<Daemon, Counts>(daemons.map((d) => [d, { pass: 0, fail: 0, error: 0, skip: 0, xfail: 0 }]));
  for (const f of files) {
    rows.push([f, ...daemons.map((d) => fmt(per.get(d)!.get(f)))]);
    for (const d of daemons) {
      const c = per.get(d)!.get(f);
      if (c) for (const k of Object.keys(c) as Array<keyof Counts>) total.get(d)![k] += c[k];
    }
  }
  rows.push(["TOTAL", ...daemons.map((d) => fmt(total.get(d)))]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
}

function printRegressions(berth: TestResult[], dockerd: TestResult[]): void {
  const passedOnDockerd = new Set(dockerd.filter((r) => r.outcome === "pass").map((r) => r.id));
  const gaps = berth.filter((r) => (r.outcome === "fail" || r.outcome === "error") && passedOnDockerd.has(r.id));
  console.log(`\n${gaps.length} tests fail on Berth and pass on dockerd:`);
  for (const g of gaps) console.log(`  ${g.id}\n      ${g.message.split("\n")[0]!.slice(0, 220)}`);
}

// ---- main ----

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("run as root: it makes a network namespace and runs daemons");
  await run(PYTHON, ["-c", "import pytest, paramiko, requests"]).catch(() => {
    throw new Error(`${PYTHON} lacks pytest/paramiko/requests: apt-get install -y python3-pytest python3-paramiko python3-requests`);
  });
  // docker/_version.py is generated at packaging time; without it docker-py reports the version of
  // any installed python3-docker. Only the User-Agent uses it.
  const versionFile = join(opts.dockerPy, "docker/_version.py");
  if (!existsSync(versionFile)) writeFileSync(versionFile, "__version__ = '7.1.0'\n");
  if (opts.against.includes("berth") && opts.build) await buildAgentBundle();
  mkdirSync(join(opts.out, "logs"), { recursive: true });

  const env = new Env(opts.out);
  const results: Partial<Record<Daemon, TestResult[]>> = {};
  const compose: Partial<Record<Daemon, ComposeStep[]>> = {};
  let seeded = false;
  await run("ip", ["netns", "add", env.netns]);
  try {
    await run("ip", ["-n", env.netns, "link", "set", "lo", "up"]);
    await startRegistry(env);
    const tars = await writeImageTars(opts.out);
    // One daemon at a time.
    for (const which of opts.against) {
      console.log(`[docker-py] ${which}: starting`);
      const d = await startDaemon(env, which);
      try {
        if (!seeded) {
          await seedRegistry(d.sock, tars);
          seeded = true;
        }
        for (const img of ["alpine:3.10", "alpine:latest", "busybox:latest"]) await docker(d.sock, ["pull", "-q", img]);
        console.log(`[docker-py] ${which}: running the suite`);
        results[which] = await runSuite(env, opts, which, d.sock);
        if (opts.compose) {
          console.log(`[docker-py] ${which}: docker-compose`);
          compose[which] = await runCompose(env, which, d.sock, opts.composeFile);
        }
      } finally {
        await stopDaemon(d, which);
      }
    }
  } finally {
    for (const p of env.procs) await stopChild(p, 15_000);
    await unmountUnder(opts.out);
    await run("ip", ["netns", "delete", env.netns]).catch((e: Error) => console.error(`netns ${env.netns}: ${e.message}`));
    removeCgroups();
  }

  console.log("\ndocker-py 7.1.0 integration suite, API 1.41 (pass/fail/error/skip+xfail per file):");
  printTable(results);
  if (results.berth && results.dockerd) printRegressions(results.berth, results.dockerd);
  for (const [which, steps] of Object.entries(compose)) {
    console.log(`\ndocker-compose against ${which}:`);
    for (const s of steps) {
      const why = s.ok ? "" : `: ${s.output.trim().split("\n").slice(-2).join(" | ").slice(0, 200)}`;
      console.log(`  ${s.ok ? "ok  " : "FAIL"} ${s.cmd}${why}`);
    }
  }
  writeFileSync(join(opts.out, "results.json"), JSON.stringify({ results, compose }, null, 2));
  console.log(`\nlogs, junit reports and results.json in ${opts.out}`);
}

main().catch((e: Error) => {
  console.error(`docker-py-suite: ${e.message}`);
  process.exit(1);
});
