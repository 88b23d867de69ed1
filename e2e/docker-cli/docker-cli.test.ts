// The stock docker CLI against Berth: an agent that never joined a control plane runs standalone
// in a lab namespace (bridge networking on) and serves the Docker API on a unix socket; every
// step of a user's workflow runs through `docker` and is checked by exit code and output.
// Registries listen on the lab's gateway address; all traffic stays in the lab.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBundlePath } from "../../scripts/build.ts";
import { createLab, type Lab } from "../support/lab.ts";
import { seedBusybox, startRegistry, type TestRegistry } from "../support/registry.ts";
import { dockerCli, type DockerCli } from "../support/docker-cli.ts";
import { waitFor } from "../support/wait.ts";
import { createRuntime } from "../../apps/agent/src/runtime.ts";
import { removeCgroupParent } from "../../apps/agent/test/support/busybox-runtime.ts";

const tmp = mkdtempSync(join(tmpdir(), "berth-dcli-"));
const socket = join(tmp, "docker.sock");
const stateDir = join(tmp, "agent");
const cgroupParent = `/berth-dcli-${process.pid}`;
let lab: Lab;
let reg: TestRegistry;
let authReg: TestRegistry;
let agent: ChildProcess;
let agentLog = "";
let docker: DockerCli;
let events: ChildProcess;
let eventLog = "";

const ok = async (args: string[], opts?: { input?: string }) => {
  const r = await docker.run(args, opts);
  assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}\nagent log:\n${agentLog.slice(-3000)}`);
  return r.stdout;
};

before(async () => {
  lab = await createLab(1);
  reg = await startRegistry({ host: lab.gateway });
  await seedBusybox(reg, tmp);
  authReg = await startRegistry({ host: lab.gateway, auth: { kind: "htpasswd", username: "berth", password: "cli-s3cret" } });
  mkdirSync(join(tmp, "docker-config"));
  docker = dockerCli(socket, join(tmp, "docker-config"));
  agent = spawn(
    "nsenter",
    [`--net=/run/netns/${lab.hosts[0]!.netns}`, "--", process.execPath, agentBundlePath, "run", "--state-dir", stateDir, "--docker-socket", socket, "--registry-mirror", reg.url, "--insecure-registry", reg.domain, "--insecure-registry", authReg.domain],
    { env: { ...process.env, BERTH_NETWORKING: "1", BERTH_CGROUP_PARENT: cgroupParent, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  agent.stdout!.on("data", (d: Buffer) => (agentLog = (agentLog + d).slice(-50_000)));
  agent.stderr!.on("data", (d: Buffer) => (agentLog = (agentLog + d).slice(-50_000)));
  await waitFor("the agent's Docker API", async () => {
    if (agent.exitCode !== null) throw new Error(`the agent exited: ${agentLog}`);
    return existsSync(socket) && (await docker.run(["version"])).code === 0;
  }, 30_000);
  events = spawn("docker", ["events", "--format", "{{json .}}"], { env: docker.env, stdio: ["ignore", "pipe", "inherit"] });
  events.stdout!.on("data", (d: Buffer) => (eventLog += d.toString()));
});

after(async () => {
  events?.kill();
  if (agent && agent.exitCode === null) {
    agent.kill("SIGKILL");
    await new Promise((r) => agent.once("exit", r));
  }
  // Containers outlive the agent by design: remove what the test left, then the lab.
  const rt = createRuntime(stateDir, { cgroupParent });
  await rt.containers.init().catch(() => undefined);
  for (const c of rt.containers.store.all()) await rt.containers.remove(c.id, { force: true }).catch(() => undefined);
  await rt.containers.close();
  removeCgroupParent(cgroupParent);
  await reg?.stop();
  await authReg?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

test("version negotiation: the CLI downgrades to the API version Berth speaks", async () => {
  const out = await ok(["version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}"]);
  assert.equal(out.trim(), "1.47 1.47");
  assert.match(await ok(["info", "--format", "{{.OSType}} {{.Driver}} {{.CgroupDriver}}"]), /^linux overlay cgroupfs/);
});

test("run -d with a published port, ps, inspect, logs -f", async () => {
  const id = (await ok(["run", "-d", "--name", "web1", "-p", "8081:80", "busybox", "sh", "-c", "mkdir -p /www && echo hello-web1 > /www/index.html && echo serving && exec httpd -f -p 80 -h /www"])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = await ok(["ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.Ports}}"]);
  assert.match(ps, /^web1\|Up .*\|0\.0\.0\.0:8081->80\/tcp/m);
  assert.equal((await ok(["inspect", "-f", "{{.State.Running}} {{.Id}}", "web1"])).trim(), `true ${id}`);
  // The published port answers on the lab host's address.
  const host = lab.hosts[0]!.address;
  const body = await waitFor("web1 answering on the published port", async () => {
    const r = await fetch(`http://${host}:8081/`).catch(() => null);
    return r?.ok ? r.text() : null;
  }, 15_000);
  assert.equal(body, "hello-web1\n");

  await ok(["run", "-d", "--name", "lines", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo oops >&2; echo finished > /tmp/state"]);
  const logs = await docker.run(["logs", "-f", "lines"]);
  assert.equal(logs.code, 0);
  assert.equal(logs.stdout, "line1\nline2\nline3\n");
  assert.equal(logs.stderr, "oops\n", "stderr stays stderr through the multiplexed stream");
});

test("exec -it: a command typed into a shell in the container", async () => {
  const r = await docker.tty(["exec", "-it", "web1", "sh"], [
    // ash asks for the cursor position after its prompt (ESC[6n), so the prompt is not the last thing shown.
    { wait: /\/ # /, send: "echo typed-$((6*7))\r" },
    { wait: /typed-42/, send: "exit\r" },
  ]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /typed-42/);
  assert.match(await ok(["exec", "web1", "cat", "/www/index.html"]), /hello-web1/);
});

test("run --rm -it: an interactive shell, its exit code, and the container gone", async () => {
  const r = await docker.tty(["run", "--rm", "-it", "--name", "interactive", "busybox", "sh"], [
    { wait: /\/ # /, send: "echo inside-$((2+3)) && tty\r" },
    { wait: /inside-5[\s\S]*\/dev\/pts/, send: "exit 3\r" },
  ]);
  assert.equal(r.code, 3, r.output);
  await waitFor("the --rm container removed", async () => !(await ok(["ps", "-a", "--format", "{{.Names}}"])).includes("interactive"), 10_000);
  // stdin without a TTY.
  assert.equal(await ok(["run", "--rm", "-i", "busybox", "cat"], { input: "through stdin\n" }), "through stdin\n");
});

test("attach to a running container, type, detach with ctrl-p ctrl-q", async () => {
  await ok(["run", "-dit", "--name", "att", "busybox", "sh"]);
  const r = await docker.tty(["attach", "att"], [
    { send: "echo attached-$((5*5))\r" },
    { wait: /attached-25/, send: "\x10\x11" },
  ]);
  assert.match(r.output, /attached-25/);
  assert.match(r.output, /read escape sequence/);
  assert.equal((await ok(["inspect", "-f", "{{.State.Running}}", "att"])).trim(), "true", "detaching leaves it running");
  await ok(["rm", "-f", "att"]);
});

test("networks: create, ls, inspect, run --network and ping by name, connect, disconnect, rm", async () => {
  const id = (await ok(["network", "create", "--subnet", "10.95.0.0/24", "n1"])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  await ok(["network", "create", "n2"]);
  assert.match(await ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]), /^n1 bridge$/m);
  assert.equal((await ok(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "n1"])).trim(), "10.95.0.0/24");
  await ok(["run", "-d", "--name", "target", "--network", "n1", "busybox", "sleep", "300"]);
  const ping = (net: string) => docker.run(["run", "--rm", "--network", net, "--cap-add", "NET_RAW", "busybox", "ping", "-c", "1", "-W", "2", "target"]);
  const same = await ping("n1");
  assert.equal(same.code, 0, same.stderr + same.stdout);
  assert.match(same.stdout, /1 packets received/);
  assert.notEqual((await ping("n2")).code, 0, "another network cannot reach it");
  await ok(["network", "connect", "n2", "target"]);
  assert.equal((await ping("n2")).code, 0, "reachable once connected to n2");
  await ok(["network", "disconnect", "n2", "target"]);
  assert.notEqual((await ping("n2")).code, 0, "unreachable again after disconnect");
  await ok(["rm", "-f", "target"]);
  await ok(["network", "rm", "n1", "n2"]);
  assert.doesNotMatch(await ok(["network", "ls", "--format", "{{.Name}}"]), /^n[12]$/m);
});

test("volumes: create, ls, inspect, -v mounts keep data, rm", async () => {
  await ok(["volume", "create", "--label", "team=cli", "vol1"]);
  assert.match(await ok(["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]), /^local vol1$/m);
  assert.equal((await ok(["volume", "inspect", "-f", "{{.Labels.team}}", "vol1"])).trim(), "cli");
  await ok(["run", "--rm", "-v", "vol1:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
  assert.equal(await ok(["run", "--rm", "-v", "vol1:/data:ro", "busybox", "cat", "/data/f"]), "kept\n");
  const ro = await docker.run(["run", "--rm", "-v", "vol1:/data:ro", "busybox", "touch", "/data/g"]);
  assert.notEqual(ro.code, 0, "a read-only mount refuses writes");
  await ok(["volume", "rm", "vol1"]);
});

test("lifecycle: stop, start, restart, top, stats --no-stream, rm -f", async () => {
  await ok(["stop", "-t", "1", "web1"]);
  assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", "web1"])).trim(), "exited");
  await ok(["start", "web1"]);
  await ok(["restart", "-t", "1", "web1"]);
  assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", "web1"])).trim(), "running");
  assert.match(await ok(["top", "web1"]), /httpd -f -p 80/);
  const stats = await ok(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "web1"]);
  assert.match(stats, /^web1 [\d.]+[KMG]i?B \/ [\d.]+[KMG]i?B \d+$/m);
});

test("images: pull, tag, push, rmi against the local registry, and login to a basic-auth registry", async () => {
  assert.match(await ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]), /^busybox:latest$/m);
  const pulled = await ok(["pull", `${reg.domain}/library/busybox`]);
  assert.match(pulled, /Status: (Downloaded newer image|Image is up to date) for/);
  await ok(["tag", "busybox", `${reg.domain}/cli/bb:v1`]);
  assert.match(await ok(["push", `${reg.domain}/cli/bb:v1`]), /v1: digest: sha256:[0-9a-f]{64}/);
  assert.match(await ok(["rmi", `${reg.domain}/cli/bb:v1`]), /Untagged: /);
  assert.match(await ok(["pull", `${reg.domain}/cli/bb:v1`]), /Status: /);

  await ok(["tag", "busybox", `${authReg.domain}/cli/bb:v1`]);
  const denied = await docker.run(["push", `${authReg.domain}/cli/bb:v1`]);
  assert.notEqual(denied.code, 0, "pushing without credentials fails");
  const bad = await docker.run(["login", authReg.domain, "-u", "berth", "--password-stdin"], { input: "wrong\n" });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unauthorized/);
  assert.match(await ok(["login", authReg.domain, "-u", "berth", "--password-stdin"], { input: "cli-s3cret\n" }), /Login Succeeded/);
  assert.match(await ok(["push", `${authReg.domain}/cli/bb:v1`]), /v1: digest: sha256:/);
});

test("files and snapshots: cp both ways, commit, save/load, export", async () => {
  writeFileSync(join(tmp, "from-host.txt"), "copied in\n");
  await ok(["cp", join(tmp, "from-host.txt"), "web1:/tmp/"]);
  assert.equal(await ok(["exec", "web1", "cat", "/tmp/from-host.txt"]), "copied in\n");
  await ok(["cp", "web1:/www/index.html", join(tmp, "out.html")]);
  assert.equal(readFileSync(join(tmp, "out.html"), "utf8"), "hello-web1\n");
  // From a stopped container too: what it wrote is in its writable layer.
  await ok(["cp", "lines:/tmp/state", join(tmp, "state")]);
  assert.equal(readFileSync(join(tmp, "state"), "utf8"), "finished\n");

  const img = (await ok(["commit", "-c", 'CMD ["cat", "/tmp/from-host.txt"]', "web1", "snap:v1"])).trim();
  assert.match(img, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await ok(["run", "--rm", "snap:v1"]), "copied in\n");
  await ok(["save", "-o", join(tmp, "snap.tar"), "snap:v1"]);
  await ok(["rmi", "snap:v1"]);
  assert.match(await ok(["load", "-i", join(tmp, "snap.tar")]), /Loaded image: snap:v1/);
  assert.equal(await ok(["run", "--rm", "snap:v1"]), "copied in\n");
  await ok(["export", "-o", join(tmp, "web1.tar"), "web1"]);
  assert.ok(readFileSync(join(tmp, "web1.tar")).includes(Buffer.from("copied in\n")), "the export holds the copied file");
});

test("housekeeping: container prune, system df", async () => {
  assert.match(await ok(["container", "prune", "-f"]), /Total reclaimed space/);
  assert.doesNotMatch(await ok(["ps", "-a", "--format", "{{.Names}}"]), /^lines$/m);
  const df = await ok(["system", "df"]);
  assert.match(df, /^Images\s+\d+/m);
  assert.match(df, /^Containers\s+1\s+1\s/m, "web1, running");
});

test("errors: a missing container, a name conflict, a bad image reference", async () => {
  const missing = await docker.run(["logs", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Error response from daemon: No such container: nope/);
  const clash = await docker.run(["run", "-d", "--name", "web1", "busybox", "true"]);
  assert.equal(clash.code, 125);
  assert.match(clash.stderr, /Conflict\. The container name "\/web1" is already in use by container "[0-9a-f]{64}"/);
  const badRef = await docker.run(["run", "--rm", "Bad//Ref", "true"]);
  assert.equal(badRef.code, 125);
  assert.match(badRef.stderr, /invalid reference format/);
  const noImage = await docker.run(["pull", `${reg.domain}/nosuch/image:v1`]);
  assert.notEqual(noImage.code, 0);
  assert.match(noImage.stderr + noImage.stdout, /not found|unknown/i);
});

test("events: what the others did arrived on the event stream", async () => {
  await ok(["rm", "-f", "web1"]);
  await waitFor("web1's destroy event", async () => eventLog.includes('"destroy"'), 10_000);
  const seen = eventLog
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } });
  const web1 = seen.filter((e) => e.Type === "container" && e.Actor.Attributes.name === "web1").map((e) => e.Action);
  for (const a of ["create", "start", "die", "restart", "destroy"]) assert.ok(web1.includes(a), `web1 ${a} in ${web1.join(",")}`);
  assert.ok(seen.some((e) => e.Actor.Attributes.name === "interactive" && e.Action === "destroy"));
  const has = (type: string, action: string, name: string) => seen.some((e) => e.Type === type && e.Action === action && e.Actor.Attributes.name === name);
  assert.ok(has("network", "create", "n1") && has("network", "connect", "n2") && has("network", "destroy", "n2"), "network events");
  assert.ok(["create", "destroy"].every((a) => seen.some((e) => e.Type === "volume" && e.Action === a && e.Actor.ID === "vol1")), "volume events");
  assert.ok(has("image", "tag", `${reg.domain}/cli/bb:v1`) && has("image", "untag", `${reg.domain}/cli/bb:v1`), "image events");
});
