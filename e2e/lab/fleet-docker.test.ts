// Lab: the fleet's Docker endpoint on the control plane, driven by the stock docker CLI (Debian's
// 20.10, and the machine's own when it has another, v28 here) over TLS with an API token in the
// CLI's config (HttpHeaders). Three lab hosts with real agents are the swarm's workers; the
// control plane is its manager.
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { Agent, setGlobalDispatcher } from "undici";
import type { AppRouter } from "@berth/api";
import { createLab, type Lab } from "@berth/test-support/lab";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { dockerCli, dockerClis, type DockerCli } from "@berth/test-support/docker-cli";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { freeLoopbackPort } from "../../scripts/postgres.ts";

let lab: Lab;
let t: TestControlPlane;
let owner: UserClient;
let teamId: string;
let mirror: TestRegistry;
const tmp = mkdtempSync(join(tmpdir(), "berth-fleet-docker-"));
const agents: TestAgent[] = [];
const caDir = join(tmp, "ca");

before(async () => {
  lab = await createLab(3);
  t = await startTestControlPlane({ host: lab.gateway, port: await freeLoopbackPort() });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(t.env.TLS_CERT_FILE!) } }));
  owner = await t.signUp("fleet-docker-owner@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  mkdirSync(caDir);
  copyFileSync(t.env.TLS_CERT_FILE!, join(caDir, "ca.pem"));
  mirror = await startRegistry({ host: lab.gateway });
  await seedBusybox(mirror, tmp);
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
  for (const h of lab.hosts)
    agents.push(spawnAgent({ url: t.url, token, stateDir: join(tmp, h.name), name: h.name, netns: h.netns, registryMirror: mirror.url }));
  await waitFor(
    "three hosts linked",
    async () => (await owner.trpc.hosts.list.query()).filter((h) => h.connected).length === 3,
    60_000,
    250,
  );
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await t?.close();
  await mirror?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** A docker CLI on the fleet endpoint (TCP, TLS) whose config sends `token`, or nothing. */
function fleetCli(bin: string, name: string, token: string | null): DockerCli {
  const config = join(tmp, `cli-${name}-${bin.replace(/\W/g, "_")}`);
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, "config.json"), JSON.stringify(token ? { HttpHeaders: { Authorization: `Bearer ${token}` } } : {}));
  return dockerCli(t.cp.docker!.dockerHost, config, bin, caDir);
}

async function tokenFor(role: "owner" | "operator" | "viewer"): Promise<string> {
  return (await owner.trpc.apiTokens.create.mutate({ name: `docker-${role}-${Math.random()}`, role, teamId })).token;
}

async function ok(cli: DockerCli, args: string[]): Promise<string> {
  const r = await cli.run(args);
  assert.equal(r.code, 0, `${cli.bin} ${args.join(" ")}: exit ${r.code}: ${r.stderr} ${r.stdout}`);
  return r.stdout.trim();
}

for (const bin of dockerClis()) {
  test(`${bin}: info and node ls show a swarm whose manager is the control plane and whose workers are the hosts`, async () => {
    const cli = fleetCli(bin, "owner", await tokenFor("owner"));
    const info = await ok(cli, [
      "info",
      "--format",
      "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}}",
    ]);
    assert.equal(info, "active true 4 1");
    const rows = (await ok(cli, ["node", "ls", "--format", "{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}"])).split("\n");
    const hosts = rows.filter((r) => r.startsWith("lab-")).sort();
    assert.deepEqual(hosts, ["lab-h1|Ready|Active|", "lab-h2|Ready|Active|", "lab-h3|Ready|Active|"]);
    assert.equal(rows.filter((r) => r.endsWith("|Leader")).length, 1, `one leader: ${rows.join(" / ")}`);
    // `self` is the node that answers: the control plane.
    assert.equal(await ok(cli, ["node", "inspect", "self", "--format", "{{.Spec.Role}} {{.ManagerStatus.Leader}}"]), "manager true");
    assert.equal(await ok(cli, ["node", "inspect", "lab-h2", "--format", "{{.Spec.Role}} {{.Status.State}}"]), "worker ready");
  });
}

test("node update: labels and availability change the hosts, audited on the docker channel; stale versions and managers are refused", async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "operator", await tokenFor("operator"));
  await ok(cli, ["node", "update", "--label-add", "zone=a", "lab-h2"]);
  const h2 = (await owner.trpc.hosts.list.query()).find((h) => h.name === "lab-h2")!;
  assert.equal(h2.labels.zone, "a");
  assert.equal(await ok(cli, ["node", "inspect", "lab-h2", "--format", "{{.Spec.Labels.zone}}"]), "a");
  assert.match(await ok(cli, ["node", "ls", "--filter", "node.label=zone=a", "--format", "{{.Hostname}}"]), /^lab-h2$/);
  await ok(cli, ["node", "update", "--availability", "drain", "lab-h3"]);
  assert.equal(await ok(cli, ["node", "inspect", "lab-h3", "--format", "{{.Spec.Availability}}"]), "drain");
  await ok(cli, ["node", "update", "--availability", "active", "lab-h3"]);
  const audit = await owner.trpc.audit.list.query({ channel: "docker" });
  assert.ok(
    audit.rows.some((a) => a.action === "hosts.setLabels"),
    `audited: ${audit.rows.map((a) => a.action).join(", ")}`,
  );
  assert.ok(audit.rows.some((a) => a.action === "services.setAvailability"));
  // A worker cannot be promoted, and the manager is not changed through the API.
  let r = await cli.run(["node", "promote", "lab-h1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Berth hosts are workers/);
  const manager = await ok(cli, ["info", "--format", "{{.Swarm.NodeID}}"]);
  r = await cli.run(["node", "update", "--label-add", "x=y", manager]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /control plane itself/);
  // An update made from a stale read (another writer changed the node since) is refused.
  const res = await fetch(`https://${t.cp.docker!.tcpAddress}/v1.47/nodes/${h2.id}/update?version=1`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor("operator")}`, "content-type": "application/json" },
    body: JSON.stringify({ Role: "worker", Availability: "active", Labels: {} }),
  });
  assert.equal(res.status, 409);
  assert.match(((await res.json()) as { message: string }).message, /update out of sequence/);
  assert.equal((await owner.trpc.hosts.list.query()).find((h) => h.name === "lab-h2")!.labels.zone, "a", "nothing changed");
});

test("no credential gets 401 in Docker's shape; a viewer reads, and its changes get 403", async () => {
  const cli = dockerClis().at(-1)!;
  const anonymous = fleetCli(cli, "anonymous", null);
  let r = await anonymous.run(["node", "ls"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /authentication required/);
  // The raw answer: status 401 and Docker's {"message"} body.
  const res = await fetch(`https://${t.cp.docker!.tcpAddress}/v1.41/nodes`);
  assert.equal(res.status, 401);
  assert.match(((await res.json()) as { message: string }).message, /authentication required/);

  const viewer = fleetCli(cli, "viewer", await tokenFor("viewer"));
  assert.match(await ok(viewer, ["node", "ls", "--format", "{{.Hostname}}"]), /lab-h1/);
  r = await viewer.run(["node", "update", "--label-add", "x=y", "lab-h1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /operator role/);
  // The unix socket for the machine's admins asks for a token too.
  const local = dockerCli(t.cp.docker!.socketPath, join(tmp, `cli-owner-${cli.replace(/\W/g, "_")}`), cli);
  assert.match(await ok(local, ["node", "ls", "--format", "{{.Hostname}}"]), /lab-h3/);
});

test("services: create, ls, ps, inspect, scale, update, rollback and rm through the docker CLI", { timeout: 240_000 }, async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "svc-operator", await tokenFor("operator"));
  const created = await ok(cli, [
    "service",
    "create",
    "-d",
    "--name",
    "web",
    "--replicas",
    "3",
    "--env",
    "A=1",
    "busybox",
    "sleep",
    "3600",
  ]);
  assert.match(created, /^[a-z0-9]{20,}$/, `the service's ID: ${created}`);
  const replicas = () => ok(cli, ["service", "ls", "--filter", "name=web", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}"]);
  await waitFor("web 3/3", async () => (await replicas()) === "web replicated 3/3", 90_000, 500).catch(async (e) => {
    const tasks = await owner.trpc.services.tasks.query({ id: created });
    throw new Error(`${(e as Error).message}; tasks: ${tasks.map((x) => `${x.slot} ${x.state} ${x.message}`).join(" | ")}`);
  });
  // A name taken is refused as Swarm refuses it.
  const again = await cli.run(["service", "create", "-d", "--no-resolve-image", "--name", "web", "busybox", "sleep", "1"]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already exists/);
  const ps = (await ok(cli, ["service", "ps", "web", "--format", "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}}"])).split("\n");
  assert.equal(ps.length, 3, ps.join(" / "));
  assert.deepEqual(ps.map((l) => l.split(" ")[1]).sort(), ["lab-h1", "lab-h2", "lab-h3"], "one task per host");
  for (const l of ps) assert.match(l, /^web\.[123] lab-h\d Running Running/);
  assert.equal(
    await ok(cli, [
      "service",
      "inspect",
      "web",
      "--format",
      "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.TaskTemplate.ContainerSpec.Env 0}}",
    ]),
    "3 A=1",
  );
  // The CLI pinned the digest it got from GET /distribution (asked of the registry through a host).
  assert.match(
    await ok(cli, ["service", "inspect", "web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"]),
    /^busybox:latest@sha256:[0-9a-f]{64}$/,
  );
  // The task containers carry Swarm's labels on their hosts.
  const anyTask = (await owner.trpc.services.tasks.query({ id: created })).find((x) => x.state === "running")!;
  const inspect = await owner.trpc.containers.inspect.query({ hostId: anyTask.hostId!, id: anyTask.containerId! });
  assert.equal((inspect.Config as { Labels: Record<string, string> }).Labels["com.docker.swarm.service.name"], "web");

  // The merged logs of its tasks, each line prefixed with its task and node by the CLI.
  const logging = await ok(cli, [
    "service",
    "create",
    "-d",
    "--name",
    "talk",
    "--replicas",
    "2",
    "busybox",
    "sh",
    "-c",
    "echo hi from $(hostname); i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.4; done",
  ]);
  await waitFor(
    "talk's two tasks logged",
    async () => (await cli.run(["service", "logs", "talk"])).stdout.split("\n").filter((l) => /hi from/.test(l)).length === 2,
    60_000,
    500,
  );
  const logLines = (await ok(cli, ["service", "logs", "talk"])).split("\n");
  for (const l of logLines) assert.match(l, /^talk\.[12]\.[a-z0-9]+@lab-h\d +\| (hi from [0-9a-f]{12}|tick \d+)$/, l);
  // -f: both tasks' new lines as they come, until the client goes.
  const followed = await cli.run(["service", "logs", "-f", "--tail", "1", "talk"], { timeoutMs: 4000 });
  const ticks = new Map<string, number[]>();
  for (const l of followed.stdout.split("\n")) {
    const m = /^(talk\.[12])\.[a-z0-9]+@lab-h\d +\| tick (\d+)$/.exec(l);
    if (m) ticks.set(m[1]!, [...(ticks.get(m[1]!) ?? []), Number(m[2])]);
  }
  assert.deepEqual([...ticks.keys()].sort(), ["talk.1", "talk.2"], `followed: ${followed.stdout}`);
  for (const seq of ticks.values()) {
    assert.ok(seq.length >= 4, `a task's lines kept coming: ${seq}`);
    assert.deepEqual(
      seq,
      seq.map((_, i) => seq[0]! + i),
      "in order, none missing",
    );
  }
  await ok(cli, ["service", "rm", logging]);
  // -p with no published number: the routing mesh picks one from Swarm's range.
  await ok(cli, ["service", "create", "-d", "--name", "meshed", "--replicas", "0", "-p", "8080", "busybox", "sleep", "3600"]);
  assert.equal(
    await ok(cli, [
      "service",
      "inspect",
      "meshed",
      "--format",
      "{{(index .Endpoint.Ports 0).PublishedPort}} {{(index .Endpoint.Ports 0).TargetPort}}",
    ]),
    "30000 8080",
  );
  await ok(cli, ["service", "rm", "meshed"]);

  await ok(cli, ["service", "scale", "-d", "web=2"]);
  await waitFor("web 2/2", async () => (await replicas()) === "web replicated 2/2", 60_000, 500);
  await ok(cli, ["service", "update", "-d", "--no-resolve-image", "--env-add", "A=2", "web"]);
  assert.match(await ok(cli, ["service", "inspect", "web", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"]), /"A=2"/);
  await waitFor(
    "the update rolled out",
    async () => (await owner.trpc.services.get.query({ id: created })).updateState === "completed",
    90_000,
    500,
  );
  await ok(cli, ["service", "rollback", "-d", "web"]);
  assert.match(await ok(cli, ["service", "inspect", "web", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"]), /"A=1"/);
  // Unsupported settings are refused by name, never dropped.
  const secret = await cli.run(["service", "create", "-d", "--no-resolve-image", "--name", "tty", "-t", "busybox", "sleep", "1"]);
  assert.notEqual(secret.code, 0);
  assert.match(secret.stderr, /ContainerSpec\.TTY/);
  await ok(cli, ["service", "rm", "web"]);
  assert.equal(await ok(cli, ["service", "ls", "-q"]), "");
  await waitFor(
    "web's containers gone",
    async () => (await owner.trpc.fleet.list.query({ kind: "container", q: "web." })).total === 0,
    60_000,
    500,
  );
});

test("containers: docker run places by constraint, docker ps spans the hosts, host/name reaches one anywhere", {
  timeout: 180_000,
}, async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "ctr-operator", await tokenFor("operator"));
  // busybox is on every host (the services test ran a task on each).
  const id = await ok(cli, [
    "run",
    "-d",
    "--name",
    "pinned",
    "-e",
    "constraint:node==lab-h3",
    "busybox",
    "sh",
    "-c",
    "echo hello; exec sleep 300",
  ]);
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(await ok(cli, ["inspect", "--format", "{{.Name}} {{.State.Running}}", "lab-h3/pinned"]), "/lab-h3/pinned true");
  // The constraint went to the scheduler, not into the container.
  assert.doesNotMatch(await ok(cli, ["inspect", "--format", "{{json .Config.Env}}", id]), /constraint:/);
  // A label constraint: lab-h2 carries zone=a (the node update test).
  await ok(cli, ["run", "-d", "--name", "zoned", "-l", "com.berth.constraints=zone==a", "busybox", "sleep", "300"]);
  assert.equal(await ok(cli, ["inspect", "--format", "{{.Name}}", "lab-h2/zoned"]), "/lab-h2/zoned");
  // Unconstrained: the host with the fewest running containers, lab-h1.
  await ok(cli, ["run", "-d", "--name", "spread", "busybox", "sleep", "300"]);
  assert.equal(await ok(cli, ["inspect", "--format", "{{.Name}}", "spread"]), "/lab-h1/spread");
  const none = await cli.run(["run", "-d", "-e", "constraint:node==nowhere", "busybox", "true"]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no online, active host satisfies the constraints node==nowhere/);

  await waitFor(
    "docker ps shows all three hosts",
    async () => {
      const names = (await ok(cli, ["ps", "--format", "{{.Names}}"])).split("\n").sort();
      return JSON.stringify(names) === JSON.stringify(["lab-h1/spread", "lab-h2/zoned", "lab-h3/pinned"]);
    },
    30_000,
    250,
  );
  assert.equal(await ok(cli, ["logs", "lab-h3/pinned"]), "hello");
  // logs -f follows: the last line, then the new ones as they come, until the client goes.
  await ok(cli, [
    "run",
    "-d",
    "--name",
    "ticker",
    "-e",
    "constraint:node==lab-h2",
    "busybox",
    "sh",
    "-c",
    "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done",
  ]);
  await waitFor("ticker ticked", async () => /tick 2/.test((await cli.run(["logs", "lab-h2/ticker"])).stdout), 20_000, 200);
  const followed = await cli.run(["logs", "-f", "--tail", "1", "lab-h2/ticker"], { timeoutMs: 3000 });
  const ticks = followed.stdout
    .split("\n")
    .filter((l) => /^tick \d+$/.test(l))
    .map((l) => Number(l.slice(5)));
  assert.ok(ticks.length >= 4, `followed lines: ${followed.stdout}`);
  assert.deepEqual(
    ticks,
    ticks.map((_, i) => ticks[0]! + i),
    "in order, none missing",
  );
  await ok(cli, ["rm", "-f", "lab-h2/ticker"]);
  // The same name on two hosts is ambiguous until the host is named.
  await ok(cli, ["run", "-d", "--name", "spread", "-e", "constraint:node==lab-h2", "busybox", "sleep", "300"]);
  await waitFor(
    "two named spread",
    async () => (await owner.trpc.fleet.list.query({ kind: "container", q: "spread" })).total === 2,
    30_000,
    250,
  );
  const ambiguous = await cli.run(["inspect", "spread"]);
  assert.notEqual(ambiguous.code, 0);
  assert.match(ambiguous.stderr, /multiple IDs found with provided prefix: spread/);
  const missing = await cli.run(["inspect", "lab-h1/nope"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No such (container|object)/);

  const viewer = fleetCli(dockerClis().at(-1)!, "ctr-viewer", await tokenFor("viewer"));
  const refused = await viewer.run(["rm", "-f", "lab-h3/pinned"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /operator role/);
  // exec on host/name: a command's output and exit code, and an interactive shell with a TTY.
  assert.equal(await ok(cli, ["exec", "lab-h3/pinned", "sh", "-c", "echo out; echo err >&2"]), "out");
  assert.equal(
    await ok(cli, ["exec", "-e", "FOO=bar", "-u", "1000", "-w", "/tmp", "lab-h3/pinned", "sh", "-c", "echo $FOO $(id -u) $(pwd)"]),
    "bar 1000 /tmp",
  );
  const failing = await cli.run(["exec", "lab-h3/pinned", "sh", "-c", "exit 3"]);
  assert.equal(failing.code, 3, "the exit code comes back");
  const shell = await cli.tty(
    ["exec", "-it", "lab-h2/zoned", "sh"],
    [
      // ash asks for the cursor position after its prompt (ESC[6n): the prompt is not the last thing shown.
      { wait: /\/ # /, send: "echo fleet-$((6*7)); hostname\r" },
      { wait: /fleet-42/, send: "exit\r" },
    ],
  );
  assert.equal(shell.code, 0, shell.output);
  assert.match(shell.output, /fleet-42/);
  assert.ok(
    (await owner.trpc.audit.list.query({ channel: "docker", action: "containers.exec" })).rows.length >= 3,
    "each exec is audited on the docker channel",
  );
  // docker run without -d: the CLI attaches, waits and starts; the exit code is the container's.
  const once = await cli.run([
    "run",
    "--name",
    "once",
    "-e",
    "constraint:node==lab-h2",
    "busybox",
    "sh",
    "-c",
    "echo from-h2; echo to-err >&2; exit 4",
  ]);
  assert.equal(once.code, 4, `${once.stdout} ${once.stderr}`);
  assert.equal(once.stdout.trim(), "from-h2");
  assert.match(once.stderr, /to-err/);
  assert.equal(await ok(cli, ["wait", "lab-h2/once"]), "4");
  // -i takes stdin; --rm waits for the removal.
  const piped = await cli.run(["run", "--rm", "-i", "-e", "constraint:node==lab-h1", "busybox", "tr", "a-z", "A-Z"], {
    input: "piped in\n",
  });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout.trim(), "PIPED IN");
  // Output is bytes, not text: what is not UTF-8 arrives as it was written.
  const raw = await new Promise<Buffer>((resolve, reject) =>
    execFile(
      cli.bin,
      ["run", "--rm", "-e", "constraint:node==lab-h1", "busybox", "printf", "\\000\\001\\377\\376\\200"],
      { env: cli.env, encoding: "buffer" },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  assert.deepEqual([...raw], [0, 1, 255, 254, 128]);
  // -it: a shell on a TTY in a new container on lab-h3.
  const runShell = await cli.tty(
    ["run", "-it", "--name", "interactive", "-e", "constraint:node==lab-h3", "busybox", "sh"],
    [
      { wait: /\/ # /, send: "echo run-$((6*7))\r" },
      { wait: /run-42/, send: "exit 5\r" },
    ],
  );
  assert.equal(runShell.code, 5, runShell.output);
  // docker stats on host/name: one sample, with the memory the container uses.
  const mem = await ok(cli, ["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "lab-h3/pinned"]);
  assert.match(mem, /^lab-h3\/pinned [\d.]+[KMG]iB \/ /);
  assert.ok(
    (await owner.trpc.audit.list.query({ channel: "docker", action: "containers.attach" })).rows.length >= 3,
    "each attach is audited on the docker channel",
  );
  await ok(cli, ["rm", "lab-h2/once", "lab-h3/interactive"]);
  const viewerExec = await viewer.run(["exec", "lab-h3/pinned", "true"]);
  assert.notEqual(viewerExec.code, 0);
  assert.match(viewerExec.stderr, /operator role/);
  await ok(cli, ["stop", "-t", "1", "lab-h3/pinned"]);
  assert.equal(await ok(cli, ["inspect", "--format", "{{.State.Status}}", "lab-h3/pinned"]), "exited");
  await ok(cli, ["rm", "-f", "lab-h3/pinned", "lab-h2/zoned", "lab-h1/spread", "lab-h2/spread"]);
  await waitFor("docker ps -a is empty", async () => (await ok(cli, ["ps", "-a", "-q"])) === "", 30_000, 250);
});

test("networks: the fleet's overlay networks are created, listed, inspected and removed with docker network", async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "net-operator", await tokenFor("operator"));
  const id = await ok(cli, [
    "network",
    "create",
    "-d",
    "overlay",
    "--attachable",
    "--subnet",
    "10.66.0.0/24",
    "--opt",
    "encrypted",
    "--label",
    "com.docker.stack.namespace=app",
    "appnet",
  ]);
  assert.ok(id.length > 10, id);
  assert.match(
    await ok(cli, ["network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]),
    /^appnet overlay swarm$/m,
  );
  assert.equal(
    await ok(cli, [
      "network",
      "inspect",
      "appnet",
      "--format",
      '{{.Attachable}} {{(index .IPAM.Config 0).Subnet}} {{index .Labels "com.docker.stack.namespace"}}',
    ]),
    "true 10.66.0.0/24 app",
  );
  assert.match(await ok(cli, ["network", "inspect", "appnet", "--format", "{{json .Options}}"]), /"encrypted"/);
  // The same refusals as everywhere: an overlapping subnet names the other network.
  const clash = await cli.run(["network", "create", "-d", "overlay", "--subnet", "10.66.0.128/25", "other"]);
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /overlaps network appnet/);
  const bridge = await cli.run(["network", "create", "-d", "bridge", "local"]);
  assert.notEqual(bridge.code, 0);
  assert.match(bridge.stderr, /overlay networks only/);
  // Every host of the team knows it.
  await waitFor(
    "lab-h1's agent lists appnet",
    async () => {
      const onHost = dockerCli(join(tmp, "lab-h1", "docker.sock"), join(tmp, "h1-cli"), dockerClis()[0]!);
      mkdirSync(join(tmp, "h1-cli"), { recursive: true });
      return (await onHost.run(["network", "ls", "--format", "{{.Name}}"])).stdout.split("\n").includes("appnet");
    },
    15_000,
    250,
  );
  await ok(cli, ["network", "rm", "appnet"]);
  assert.doesNotMatch(await ok(cli, ["network", "ls", "--format", "{{.Name}}"]), /appnet/);
});

test("secrets and configs: create, ls, inspect and rm with the docker CLI; a secret's value is never shown nor stored in the clear", async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "files-operator", await tokenFor("operator"));
  const viewer = fleetCli(dockerClis().at(-1)!, "files-viewer", await tokenFor("viewer"));
  const value = `pw-${Math.random().toString(36).slice(2)}`;
  const secretFile = join(tmp, "secret.txt");
  const configFile = join(tmp, "config.txt");
  writeFileSync(secretFile, value);
  writeFileSync(configFile, "listen 8080\n");
  const secretId = await ok(cli, ["secret", "create", "--label", "tier=db", "db_pw", secretFile]);
  await ok(cli, ["config", "create", "nginx_conf", configFile]);
  assert.match(await ok(cli, ["secret", "ls", "--format", "{{.ID}} {{.Name}}"]), new RegExp(`^${secretId} db_pw$`, "m"));
  assert.equal(await ok(cli, ["secret", "ls", "--filter", "label=tier=db", "--format", "{{.Name}}"]), "db_pw");
  const inspected = await ok(cli, ["secret", "inspect", "db_pw"]);
  assert.ok(!inspected.includes(Buffer.from(value).toString("base64")) && !inspected.includes(value), "a secret's data is never shown");
  assert.equal(await ok(cli, ["config", "inspect", "nginx_conf", "--format", '{{printf "%s" .Spec.Data}}']), "listen 8080");
  const stored = await t.cp.db.serviceFile.findFirstOrThrow({ where: { name: "db_pw" } });
  assert.ok(!stored.data.includes(value) && !stored.data.includes(Buffer.from(value).toString("base64")), "sealed in Postgres");
  // Names are unique per kind; a viewer reads but does not create.
  let r = await cli.run(["secret", "create", "db_pw", secretFile]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already exists/);
  assert.match(await ok(viewer, ["config", "ls", "--format", "{{.Name}}"]), /^nginx_conf$/m);
  r = await viewer.run(["secret", "create", "other", secretFile]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /operator role/);
  await ok(cli, ["secret", "rm", "db_pw"]);
  await ok(cli, ["config", "rm", "nginx_conf"]);
  assert.equal(await ok(cli, ["secret", "ls", "-q"]), "");
  assert.equal(await ok(cli, ["config", "ls", "-q"]), "");
});

test("stacks: docker stack deploy of a compose file makes its network, secret, config and services; a redeploy changes no task; stack rm leaves nothing", {
  timeout: 240_000,
}, async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "stack-operator", await tokenFor("operator"));
  const compose = join(tmp, "stack.yml");
  const password = `stack-pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(tmp, "db_password.txt"), password);
  writeFileSync(join(tmp, "app.conf"), "mode=fleet\n");
  writeFileSync(
    compose,
    [
      'version: "3.8"',
      "services:",
      "  web:",
      "    image: busybox",
      '    command: ["sh", "-c", "exec sleep 3600"]',
      "    networks: [front]",
      "    secrets: [db_password]",
      "    configs:",
      "      - source: app_conf",
      "        target: /etc/app.conf",
      "        mode: 0440",
      "    deploy:",
      "      replicas: 2",
      "  api:",
      "    image: busybox",
      '    command: ["sleep", "3600"]',
      "    networks: [front]",
      "networks:",
      "  front:",
      "    driver: overlay",
      "secrets:",
      "  db_password:",
      "    file: ./db_password.txt",
      "configs:",
      "  app_conf:",
      "    file: ./app.conf",
      "",
    ].join("\n"),
  );
  await ok(cli, ["stack", "deploy", "-c", compose, "app"]);
  assert.match(await ok(cli, ["stack", "ls", "--format", "{{.Name}} {{.Services}}"]), /^app 2$/m);
  assert.match(await ok(cli, ["network", "ls", "--format", "{{.Name}}"]), /^app_front$/m);
  assert.equal(
    await ok(cli, ["secret", "ls", "--filter", "label=com.docker.stack.namespace=app", "--format", "{{.Name}}"]),
    "app_db_password",
  );
  assert.equal(
    await ok(cli, ["config", "ls", "--filter", "label=com.docker.stack.namespace=app", "--format", "{{.Name}}"]),
    "app_app_conf",
  );
  const replicas = async () =>
    (await ok(cli, ["stack", "services", "app", "--format", "{{.Name}} {{.Replicas}}"])).split("\n").sort().join(" / ");
  await waitFor("the stack's tasks run", async () => (await replicas()) === "app_api 1/1 / app_web 2/2", 90_000, 500);
  // A task reads its secret and config as files, on whichever host it runs.
  // docker ps reads the hosts' inventory, a few seconds behind the tasks' start.
  const web = await waitFor(
    "a web task listed as host/name",
    async () => (await ok(cli, ["ps", "--format", "{{.Names}}"])).split("\n").find((n) => /\/app_web\.1\./.test(n)) ?? null,
    30_000,
    250,
  );
  assert.equal(await ok(cli, ["exec", web, "cat", "/run/secrets/db_password"]), password);
  assert.equal(await ok(cli, ["exec", web, "sh", "-c", "cat /etc/app.conf; stat -c %a /etc/app.conf"]), "mode=fleet\n440");
  // In use: not removed.
  const inUse = await cli.run(["secret", "rm", "app_db_password"]);
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, /in use by the following service: app_web/);
  const taskIds = async () => (await ok(cli, ["stack", "ps", "app", "-q", "--filter", "desired-state=running"])).split("\n").sort();
  const before = await taskIds();
  assert.equal(before.length, 3);
  // The same file again: nothing changes, so no task is replaced.
  await ok(cli, ["stack", "deploy", "-c", compose, "app"]);
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(await taskIds(), before, "a redeploy of an unchanged file restarts nothing");
  // Deployed elsewhere: the dashboard lists the namespace, and adopting it writes a compose file
  // back that plans to the same specs, so the adopted stack's first deploy changes nothing.
  const found = (await owner.trpc.stacks.found.query()).find((f) => f.name === "app");
  assert.equal(found?.kind, "fleet");
  assert.deepEqual(found?.services, ["app_api", "app_web"]);
  const adopted = await owner.trpc.stacks.adopt.mutate({ teamId, name: "app" });
  assert.equal(adopted.origin, "docker-stack");
  const deploy = await owner.trpc.stacks.deploy.mutate({ id: adopted.id });
  assert.equal(deploy.outcome, "succeeded", deploy.error ?? "");
  assert.deepEqual([...(deploy.summary.unchanged ?? [])].sort(), ["app_api", "app_web"], adopted.source.files["compose.yaml"]);
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(await taskIds(), before, "the adopted stack's first deploy restarts nothing");
  await owner.trpc.stacks.remove.mutate({ id: adopted.id });
  await ok(cli, ["stack", "rm", "app"]);
  await waitFor(
    "nothing of app is left",
    async () =>
      (await ok(cli, ["service", "ls", "-q"])) === "" &&
      !/app_front/.test(await ok(cli, ["network", "ls", "--format", "{{.Name}}"])) &&
      (await ok(cli, ["secret", "ls", "-q"])) === "" &&
      (await ok(cli, ["config", "ls", "-q"])) === "" &&
      (await ok(cli, ["ps", "-a", "-q"])) === "",
    90_000,
    500,
  );
});

test("images, volumes and host networks: listed fleet-wide as host/name; pull to one host or all; rmi, volume create and rm on one host", {
  timeout: 180_000,
}, async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "objects-operator", await tokenFor("operator"));
  const images = async () => (await ok(cli, ["images", "--format", "{{.Repository}}:{{.Tag}}"])).split("\n");
  await waitFor(
    "busybox listed on each host",
    async () => {
      const listed = await images();
      return ["lab-h1", "lab-h2", "lab-h3"].every((h) => listed.includes(`${h}/busybox:latest`));
    },
    30_000,
    250,
  );
  assert.deepEqual((await images()).filter((i) => i.endsWith("/busybox:latest")).sort(), [
    "lab-h1/busybox:latest",
    "lab-h2/busybox:latest",
    "lab-h3/busybox:latest",
  ]);
  // rmi on one host; the inventory follows.
  await ok(cli, ["rmi", "lab-h2/busybox"]);
  await waitFor("busybox gone from lab-h2", async () => !(await images()).includes("lab-h2/busybox:latest"), 30_000, 250);
  assert.ok((await images()).includes("lab-h1/busybox:latest"), "the other hosts keep theirs");
  // A pull to one host, then to all of them.
  const one = await ok(cli, ["pull", "lab-h2/busybox"]);
  assert.match(one, /pulled busybox:latest on 1 host/);
  await waitFor("busybox back on lab-h2", async () => (await images()).includes("lab-h2/busybox:latest"), 30_000, 250);
  assert.match(await ok(cli, ["pull", "busybox"]), /pulled docker\.io\/library\/busybox:latest on 3 host/);
  // What fails on a host is said per host (here a viewer's pull, refused on each).
  const viewer = fleetCli(dockerClis().at(-1)!, "objects-viewer", await tokenFor("viewer"));
  const refused = await viewer.run(["pull", "busybox"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /failed on 3 of 3 host\(s\): lab-h\d: .*operator role/);

  // Volumes live on one host: created, listed, inspected and removed as host/name.
  assert.equal(await ok(cli, ["volume", "create", "--label", "app=x", "lab-h3/data"]), "lab-h3/data");
  await waitFor(
    "the volume listed",
    async () => (await ok(cli, ["volume", "ls", "--format", "{{.Name}} {{.Driver}}"])).split("\n").includes("lab-h3/data local"),
    30_000,
    250,
  );
  assert.equal(await ok(cli, ["volume", "inspect", "lab-h3/data", "--format", "{{.Name}} {{.Labels.app}}"]), "lab-h3/data x");
  const bare = await cli.run(["volume", "create", "data"]);
  assert.notEqual(bare.code, 0);
  assert.match(bare.stderr, /name the host the volume lives on/);
  await ok(cli, ["volume", "rm", "lab-h3/data"]);
  const gone = await cli.run(["volume", "inspect", "lab-h3/data"]);
  assert.notEqual(gone.code, 0);

  // Each host's own networks, beside the fleet's overlays.
  const nets = (await ok(cli, ["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"])).split("\n");
  for (const h of ["lab-h1", "lab-h2", "lab-h3"]) assert.ok(nets.includes(`${h}/bridge bridge local`), nets.join(" / "));
  assert.equal(await ok(cli, ["network", "inspect", "lab-h2/bridge", "--format", "{{.Name}} {{.Driver}}"]), "lab-h2/bridge bridge");
});

test("docker build: classic Swarm's constraint picks the host, the image stays there, the build is in the history; a viewer is refused", {
  timeout: 180_000,
}, async () => {
  const cli = fleetCli(dockerClis().at(-1)!, "build-operator", await tokenFor("operator"));
  const dir = join(tmp, "fleet-build");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), 'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greeting\nCMD ["cat", "/greeting"]\n');
  const out = await ok(cli, [
    "build",
    "--build-arg",
    "constraint:node==lab-h2",
    "--build-arg",
    "GREETING=from-the-fleet",
    "-t",
    "fleetbuilt:1",
    dir,
  ]);
  assert.match(out, /Building on lab-h2/);
  assert.match(out, /Step 3\/4 : RUN echo "\$GREETING" > \/greeting/);
  assert.match(out, /Successfully tagged fleetbuilt:1/);
  await waitFor(
    "the image in the fleet's list",
    async () => (await ok(cli, ["images", "--format", "{{.Repository}}:{{.Tag}}"])).split("\n").includes("lab-h2/fleetbuilt:1"),
    30_000,
  );
  assert.equal(await ok(cli, ["run", "--rm", "-e", "constraint:node==lab-h2", "fleetbuilt:1"]), "from-the-fleet");
  const build = (await owner.trpc.builds.list.query()).find((b) => b.sourceKind === "docker" && b.tags.includes("fleetbuilt:1"));
  assert.equal(build?.status, "succeeded");
  assert.equal(build?.hostName, "lab-h2");
  const viewer = fleetCli(dockerClis().at(-1)!, "build-viewer", await tokenFor("viewer"));
  const refused = await viewer.run(["build", "-t", "nope:1", dir]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /operator role/);
});

test("client certificates: one issued to a user works instead of a token, with that user's role; revoked, it is refused", async () => {
  const viewer = await t.signUp("cert-viewer@example.com", "cert-viewer-password", "viewer");
  const issued = await viewer.trpc.docker.issueCertificate.mutate();
  const certDir = join(tmp, "viewer-cert");
  mkdirSync(certDir, { recursive: true });
  copyFileSync(join(caDir, "ca.pem"), join(certDir, "ca.pem"));
  writeFileSync(join(certDir, "cert.pem"), issued.certPem);
  writeFileSync(join(certDir, "key.pem"), issued.keyPem, { mode: 0o600 });
  const config = join(tmp, "cli-cert-viewer");
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, "config.json"), "{}");
  const cli = dockerCli(t.cp.docker!.dockerHost, config, dockerClis().at(-1)!, certDir);
  // No token: the certificate says who calls, and its user's role holds.
  assert.match(await ok(cli, ["node", "ls", "--format", "{{.Hostname}}"]), /lab-h1/);
  const refused = await cli.run(["network", "create", "-d", "overlay", "by-cert"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /operator role/);
  const listed = await viewer.trpc.docker.certificates.query();
  assert.deepEqual(
    listed.map((c) => [c.id, c.revokedAt]),
    [[issued.id, null]],
  );
  // Someone else's certificate is not theirs to revoke; the holder's revoke ends it at once.
  await assert.rejects(owner.trpc.docker.revokeCertificate.mutate({ id: issued.id }), /not found/);
  await viewer.trpc.docker.revokeCertificate.mutate({ id: issued.id });
  const after = await cli.run(["node", "ls"]);
  assert.notEqual(after.code, 0);
  assert.match(after.stderr, /revoked, expired or unknown/);
  // API tokens cannot issue certificates: they are a signed-in user's own.
  const tokenClient = createTRPCClient<AppRouter>({
    links: [
      httpLink({ url: `${t.url}/api/trpc`, transformer: superjson, headers: { authorization: `Bearer ${await tokenFor("owner")}` } }),
    ],
  });
  await assert.rejects(tokenClient.docker.issueCertificate.mutate(), /signed-in user's own/);
});
