// docker-compose 1.29 (Debian's) as a client of a standalone agent: the three-service project in
// compose-fixture/ (a web service on a named volume and a published port, a client that reaches
// it by name, a store with a health check both wait for, an env file) through a user's day:
// config, up, ps, logs, exec, run --rm, scale, restart, pause, stop/start, top, and down -v,
// which must leave nothing of the project behind. The steps run in order, each on the last's state.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { DEBIAN_DOCKER, dockerCli, type DockerCli } from "@berth/test-support/docker-cli";
import { waitFor } from "@berth/test-support/wait";
import { startStandaloneAgent, type ClientResult, type StandaloneAgent } from "./standalone-agent.ts";

const FIXTURE = join(import.meta.dirname, "compose-fixture");
const PROJECT = `bc${process.pid}`;
const PORT = 18088;
const GREETING = "hello from the compose fixture";
const SERVICES = ["client", "store", "web"];

let agent: StandaloneAgent;
let docker: DockerCli;
/** Unix seconds before `up`, for the event window. */
let upStartedAt = 0;

const compose = (args: string[], timeoutMs = 120_000): Promise<ClientResult> =>
  agent.run("docker-compose", ["--ansi", "never", "-p", PROJECT, "-f", join(FIXTURE, "docker-compose.yml"), ...args], {
    cwd: FIXTURE,
    timeoutMs,
    env: { DOCKER_CONFIG: join(agent.dir, "docker-config") },
  });

const failure = (what: string, r: ClientResult) =>
  `${what} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}\nagent log:\n${agent.log().slice(-3000)}`;

/** Runs a compose command that must succeed; its stdout (compose reports progress on stderr). */
async function ok(args: string[]): Promise<string> {
  const r = await compose(args);
  assert.equal(r.code, 0, failure(`docker-compose ${args.join(" ")}`, r));
  return r.stdout;
}

async function dockerOk(args: string[]): Promise<string> {
  const r = await docker.run(args);
  assert.equal(r.code, 0, failure(`docker ${args.join(" ")}`, r));
  return r.stdout;
}

const container = (service: string, n = 1) => `${PROJECT}_${service}_${n}`;
const inspect = async (name: string, format: string) => (await dockerOk(["inspect", "-f", format, name])).trim();

/** The page on the published port of the lab host, or null when nothing answers within `ms`. */
async function page(ms = 2_000): Promise<string | null> {
  const r = await fetch(`http://${agent.host.address}:${PORT}/`, { signal: AbortSignal.timeout(ms) }).catch(() => null);
  return r?.ok ? r.text() : null;
}

/** What `docker-compose ps` shows for a container: its state column and what follows. */
async function psLine(name: string): Promise<string> {
  const line = (await ok(["ps"])).split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in docker-compose ps`);
  return line;
}

const projectFilter = `label=com.docker.compose.project=${PROJECT}`;

before(async () => {
  agent = await startStandaloneAgent("compose");
  docker = dockerCli(agent.socket, join(agent.dir, "docker-config"), DEBIAN_DOCKER);
});

after(async () => {
  // What a failed step left: the project's containers, network and volume.
  if (agent) await compose(["down", "-v", "--remove-orphans", "-t", "1"]).catch(() => undefined);
  await agent?.stop();
});

describe("docker-compose 1.29 against a standalone agent", () => {
  test("config: the file, the env file and the defaults resolved", async () => {
    const config = parse(await ok(["config"])) as {
      services: Record<
        string,
        {
          environment?: Record<string, string>;
          ports?: Array<{ published: number; target: number }>;
          depends_on?: Record<string, { condition: string }>;
        }
      >;
      volumes: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(config.services).sort(), SERVICES);
    assert.deepEqual(config.services.web!.environment, { GREETING, WEB_ROLE: "frontend" }, "the env file's variables");
    assert.deepEqual(config.services.web!.ports, [{ published: PORT, target: 80 }]);
    assert.equal(config.services.client!.depends_on!.store!.condition, "service_healthy");
    assert.deepEqual(Object.keys(config.volumes), ["www"]);
    assert.deepEqual((await ok(["config", "--services"])).trim().split("\n").sort(), SERVICES);
    assert.deepEqual((await ok(["config", "--volumes"])).trim().split("\n"), ["www"]);
  });

  test("up -d: the store turns healthy before the others start, the client reaches web by name", async () => {
    upStartedAt = Math.floor(Date.now() / 1000);
    const r = await compose(["up", "-d"]);
    assert.equal(r.code, 0, failure("docker-compose up -d", r));
    for (const s of SERVICES) assert.match(r.stderr, new RegExp(`Creating ${container(s)}\\s+\\.\\.\\. done`), r.stderr);
    assert.match(r.stderr, new RegExp(`Creating network "${PROJECT}_default" with the default driver`));
    assert.match(r.stderr, new RegExp(`Creating volume "${PROJECT}_www" with default driver`));
    assert.equal(await inspect(container("store"), "{{.State.Health.Status}}"), "healthy");

    // Ordering, from the agent's own event log: store healthy, then web and client started.
    const events = (
      await dockerOk([
        "events",
        "--since",
        String(upStartedAt),
        "--until",
        String(Math.floor(Date.now() / 1000) + 1),
        "--filter",
        projectFilter,
        "--format",
        "{{json .}}",
      ])
    )
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } });
    const at = (service: string, action: string) =>
      events.find((e) => e.Action === action && e.Actor.Attributes["com.docker.compose.service"] === service)?.timeNano;
    const healthy = at("store", "health_status: healthy");
    assert.ok(healthy, `store's health_status event in ${events.filter((e) => !e.Action.startsWith("exec_")).map((e) => e.Action)}`);
    for (const s of ["web", "client"]) {
      const started = at(s, "start");
      assert.ok(started && started > healthy, `${s} starts after store is healthy (${started} > ${healthy})`);
    }

    assert.equal(await waitFor("the page on the published port", () => page(), 15_000), `${GREETING}\n`);
    const fetched = await waitFor(
      "the client's first fetch",
      async () => (await ok(["logs", "--no-color", "client"])).includes(GREETING),
      15_000,
    );
    assert.ok(fetched);
  });

  test("ps: three containers up, the store healthy, the port published", async () => {
    assert.match(await psLine(container("store")), /\sUp \(healthy\)/);
    assert.match(await psLine(container("web")), new RegExp(`\\sUp\\s+0\\.0\\.0\\.0:${PORT}->80/tcp`));
    assert.match(await psLine(container("client")), /\sUp\s*$/);
    const ids = (await ok(["ps", "-q"])).trim().split("\n");
    assert.equal(ids.length, 3, ids.join(" "));
    for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/);
    assert.deepEqual((await ok(["ps", "--services"])).trim().split("\n").sort(), SERVICES);
  });

  test("logs: each service's output, prefixed with its container", async () => {
    const all = await ok(["logs", "--no-color"]);
    // compose prefixes each line with the service and its number.
    assert.match(all, new RegExp(`^client_1\\s+\\| ${GREETING}$`, "m"), all);
    assert.match(all, /^web_1\s+\| .*response:200$/m, all);
    await ok(["exec", "-T", "client", "sh", "-c", "echo second-line > /proc/1/fd/1"]);
    const tail = (await ok(["logs", "--no-color", "--tail=1", "client"])).split("\n").filter((l) => l.includes("|"));
    assert.deepEqual(tail, ["client_1  | second-line"], "--tail=1");
  });

  test("exec: a command in a running service, its environment and exit code", async () => {
    assert.equal(await ok(["exec", "-T", "client", "wget", "-qO-", "http://web/"]), `${GREETING}\n`);
    assert.equal(await ok(["exec", "-T", "web", "sh", "-c", "echo $WEB_ROLE"]), "frontend\n");
    assert.equal(await ok(["exec", "-T", "--workdir", "/www", "web", "cat", "starts"]), "start\n");
    const r = await compose(["exec", "-T", "web", "sh", "-c", "exit 3"]);
    assert.equal(r.code, 3, failure("exec exit 3", r));
  });

  test("run --rm: a one-off container on the project network, removed afterwards", async () => {
    assert.equal(await ok(["run", "--rm", "-T", "client", "wget", "-qO-", "http://web/"]), `${GREETING}\n`);
    assert.equal(await ok(["run", "--rm", "-T", "-e", "ONE_OFF=yes", "client", "sh", "-c", "echo $ONE_OFF"]), "yes\n");
    const r = await compose(["run", "--rm", "-T", "client", "sh", "-c", "exit 4"]);
    assert.equal(r.code, 4, failure("run exit 4", r));
    const left = await dockerOk(["ps", "-aq", "--filter", projectFilter, "--filter", "label=com.docker.compose.oneoff=True"]);
    assert.equal(left.trim(), "", "no one-off container left");
  });

  test("up -d --scale client=2: a second client that reaches web too", async () => {
    await ok(["up", "-d", "--scale", "client=2"]);
    const ids = (await ok(["ps", "-q", "client"])).trim().split("\n");
    assert.equal(ids.length, 2, ids.join(" "));
    await waitFor("the second client's fetch", async () => (await dockerOk(["logs", container("client", 2)])).includes(GREETING), 15_000);
    assert.match(await psLine(container("client", 2)), /\sUp\s*$/);
  });

  test("restart: web restarts, its volume kept", async () => {
    const before = await inspect(container("web"), "{{.State.StartedAt}}");
    await ok(["restart", "-t", "1", "web"]);
    assert.notEqual(await inspect(container("web"), "{{.State.StartedAt}}"), before, "a new start");
    assert.equal(await ok(["exec", "-T", "web", "cat", "/www/starts"]), "start\nstart\n", "both starts on the volume");
    assert.equal(await waitFor("the page after the restart", () => page(), 15_000), `${GREETING}\n`);
  });

  test("pause and unpause: web stops answering while paused", async () => {
    await ok(["pause", "web"]);
    assert.equal(await inspect(container("web"), "{{.State.Paused}} {{.State.Status}}"), "true paused");
    assert.match(await psLine(container("web")), /\sPaused\s/);
    assert.equal(await page(1_000), null, "a paused web does not answer");
    await ok(["unpause", "web"]);
    assert.equal(await inspect(container("web"), "{{.State.Paused}} {{.State.Status}}"), "false running");
    assert.equal(await waitFor("the page after unpause", () => page(), 15_000), `${GREETING}\n`);
  });

  test("stop and start: every service down, then up again and healthy", async () => {
    await ok(["stop", "-t", "1"]);
    for (const name of [container("store"), container("web"), container("client"), container("client", 2)]) {
      assert.match(await psLine(name), /\sExit \d+(\s|$)/);
    }
    await ok(["start"]);
    for (const s of SERVICES) assert.match(await psLine(container(s)), /\sUp/);
    await waitFor(
      "the store healthy again",
      async () => (await inspect(container("store"), "{{.State.Health.Status}}")) === "healthy",
      20_000,
    );
    assert.equal(await waitFor("the page after start", () => page(), 15_000), `${GREETING}\n`);
  });

  test("top: each service's processes", async () => {
    const web = await ok(["top", "web"]);
    assert.match(web, new RegExp(`^${container("web")}$`, "m"));
    assert.match(web, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\s*$/m);
    assert.match(web, /httpd -f -v -p 80 -h \/www/);
    const all = await ok(["top"]);
    for (const name of [container("store"), container("web"), container("client"), container("client", 2)]) {
      assert.match(all, new RegExp(`^${name}$`, "m"), all);
    }
    assert.match(all, /sleep 3600/);
  });

  test("down -v: no container, network or volume of the project left", async () => {
    const r = await compose(["down", "-v", "-t", "1"]);
    assert.equal(r.code, 0, failure("docker-compose down -v", r));
    assert.match(r.stderr, new RegExp(`Removing network ${PROJECT}_default`));
    assert.match(r.stderr, new RegExp(`Removing volume ${PROJECT}_www`));
    assert.equal((await dockerOk(["ps", "-aq", "--filter", projectFilter])).trim(), "", "containers");
    assert.equal((await dockerOk(["network", "ls", "-q", "--filter", projectFilter])).trim(), "", "networks");
    assert.equal((await dockerOk(["volume", "ls", "-q", "--filter", projectFilter])).trim(), "", "volumes");
    const names = (await dockerOk(["network", "ls", "--format", "{{.Name}}"])).split("\n");
    assert.ok(!names.includes(`${PROJECT}_default`), names.join(" "));
    assert.ok(!(await dockerOk(["volume", "ls", "--format", "{{.Name}}"])).split("\n").includes(`${PROJECT}_www`));
    assert.equal((await ok(["ps", "-q"])).trim(), "", "docker-compose ps after down");
  });
});
