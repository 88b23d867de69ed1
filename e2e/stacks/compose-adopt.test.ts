// Debian's docker-compose 1.29 against an agent's socket, on a lab host linked to the control
// plane: up -d, ps, logs and exec on the three-service fixture (a web server on a named volume and
// a published port, a client that fetches it by name, a store with a health check). The project
// then shows among the stacks deployed elsewhere, is adopted (a compose file written back from its
// containers), and deployed by Berth: its containers are recreated once with Berth's config
// hashes, keep compose's names and labels (docker-compose ps still lists them, exec still works,
// the volume's data is kept), and a second deploy touches nothing. down -v then removes it all.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { UserClient } from "@berth/test-support/control-plane";
import { dockerCli, type DockerCli } from "@berth/test-support/docker-cli";
import { waitFor } from "@berth/test-support/wait";
import { startLabHost, type LabHostSetup } from "../support/lab-host.ts";

const FIXTURE = join(import.meta.dirname, "..", "docker-clients", "compose-fixture");
const PROJECT = "adoptme";
const GREETING = "hello from the compose fixture";

let setup: LabHostSetup;
let owner: UserClient;
let hostId: string;
let teamId: string;
let compose: DockerCli;

before(async () => {
  setup = await startLabHost("compose-adopt@example.com");
  ({ owner, hostId, teamId } = setup);
  mkdirSync(join(setup.tmp, "compose-config"));
  compose = dockerCli(join(setup.stateDir, "docker.sock"), join(setup.tmp, "compose-config"), "/usr/bin/docker-compose");
});

after(async () => {
  await compose?.run(["--ansi", "never", "-p", PROJECT, "-f", join(FIXTURE, "docker-compose.yml"), "down", "-v"], { timeoutMs: 120_000 });
  await setup?.stop();
});

async function dc(args: string[]): Promise<string> {
  const r = await compose.run(["--ansi", "never", "-p", PROJECT, "-f", join(FIXTURE, "docker-compose.yml"), ...args], {
    timeoutMs: 180_000,
  });
  assert.equal(r.code, 0, `docker-compose ${args.join(" ")} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** docker-compose ps's service column → state column, for the project's containers. */
async function psStates(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await dc(["ps"])).split("\n")) {
    const m = /^(\S+)\s.*\s(Up[^\n]*|Exit[^\n]*)$/.exec(line.trimEnd());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

test("a docker-compose project is listed, adopted and deployed by Berth, and docker-compose still drives it", {
  timeout: 600_000,
}, async () => {
  await dc(["up", "-d"]);
  const states = await psStates();
  assert.equal(states.size, 3, `three containers in ps: ${[...states.keys()]}`);
  for (const [name, state] of states) assert.match(state, /^Up/, `${name}: ${state}`);
  const clientLog = await waitFor(
    "the client to fetch the page",
    async () => {
      const out = await dc(["logs", "--no-color", "client"]);
      return out.includes(GREETING) ? out : null;
    },
    60_000,
    500,
  );
  assert.match(clientLog, /client_1/);
  assert.equal((await dc(["exec", "-T", "web", "cat", "/www/index.html"])).trim(), GREETING);

  // Deployed elsewhere: the project shows, with its services.
  const found = await owner.trpc.stacks.found.query();
  const mine = found.find((f) => f.name === PROJECT);
  assert.ok(mine, `the project is listed among stacks deployed elsewhere: ${JSON.stringify(found)}`);
  assert.equal(mine.kind, "host");
  assert.equal(mine.hostId, hostId);
  assert.deepEqual(mine.services, ["client", "store", "web"]);
  assert.equal(mine.containers, 3);

  // Adopted: a compose file written back from the containers, kept as a single-host stack.
  const stack = await owner.trpc.stacks.adopt.mutate({ teamId, hostId, name: PROJECT });
  assert.equal(stack.origin, "docker-compose");
  assert.equal(stack.target, "host");
  const file = parse(stack.source.files["compose.yaml"]!) as {
    services: Record<string, Record<string, unknown>>;
    volumes?: Record<string, unknown>;
  };
  assert.deepEqual(Object.keys(file.services).sort(), ["client", "store", "web"]);
  assert.equal((file.services.web!.environment as Record<string, string>).GREETING, GREETING);
  assert.deepEqual(file.services.web!.volumes, ["www:/www"]);
  assert.deepEqual(file.services.web!.ports, ["18088:80"]);
  assert.ok(file.volumes && "www" in file.volumes);
  assert.deepEqual((file.services.store!.healthcheck as { test: string[] }).test, ["CMD", "test", "-f", "/tmp/ready"]);
  // `$` in the command is kept literal for the shell, not interpolated by the reader.
  assert.match(JSON.stringify(file.services.web!.command), /\$\$GREETING/);
  assert.ok(!(await owner.trpc.stacks.found.query()).some((f) => f.name === PROJECT), "an adopted project is no longer 'elsewhere'");

  // Berth deploys it: recreated once with its own hashes, under compose's names and labels.
  const first = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
  assert.equal(first.outcome, "succeeded", first.error ?? "");
  assert.deepEqual([...(first.summary.updated ?? [])].sort(), ["client", "store", "web"]);
  const again = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
  assert.deepEqual([...(again.summary.unchanged ?? [])].sort(), ["client", "store", "web"], "a second deploy touches nothing");

  const after = await waitFor(
    "docker-compose ps to list Berth's containers up",
    async () => {
      const s = await psStates();
      return s.size === 3 && [...s.values()].every((v) => v.startsWith("Up")) ? s : null;
    },
    60_000,
    500,
  );
  assert.deepEqual([...after.keys()].sort(), [`${PROJECT}-client-1`, `${PROJECT}-store-1`, `${PROJECT}-web-1`]);
  // Same env, same volume: the page is still there, and exec still reaches the service.
  assert.equal((await dc(["exec", "-T", "web", "cat", "/www/index.html"])).trim(), GREETING);
  assert.match(await dc(["exec", "-T", "web", "cat", "/www/starts"]), /^start\nstart\n$/, "the volume kept the first start's line");

  // docker-compose still takes it down, volumes too.
  await dc(["down", "-v"]);
  assert.equal((await psStates()).size, 0);
  const volumes = await owner.trpc.volumes.list.query({ hostId });
  assert.ok(!volumes.some((v) => v.Name === `${PROJECT}_www`));
  await owner.trpc.stacks.remove.mutate({ id: stack.id });
});
