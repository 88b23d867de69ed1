// Stock docker CLIs against Berth: an agent that never joined a control plane runs standalone
// in a lab namespace (bridge networking on) and serves the Docker API on a unix socket; every
// step of a user's workflow runs through `docker` and is checked by exit code and output. The
// workflow runs once per CLI from dockerClis() (Debian's 20.10 at API 1.41, and the machine's own,
// v28 here, at 1.47), against the same agent; each pass names what it makes after itself and
// removes it afterwards. Registries listen on the lab's gateway address; all traffic stays in the lab.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBundlePath } from "../../scripts/build.ts";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { compareApiVersions, dockerCli, dockerClis, negotiatedVersion } from "@berth/test-support/docker-cli";
import { waitFor } from "@berth/test-support/wait";
import { createRuntime } from "../../apps/agent/src/runtime.ts";
import { removeCgroupParent } from "@berth/test-support/cgroups";

const tmp = mkdtempSync(join(tmpdir(), "berth-dcli-"));
const socket = join(tmp, "docker.sock");
const stateDir = join(tmp, "agent");
const cgroupParent = `/berth-dcli-${process.pid}`;
const clis = dockerClis();
/** The newest API version Berth speaks. */
const SERVER_API = "1.47";
let lab: Lab;
let reg: TestRegistry;
let authReg: TestRegistry;
let agent: ChildProcess;
let agentLog = "";

before(async () => {
  lab = await createLab(1);
  reg = await startRegistry({ host: lab.gateway });
  await seedBusybox(reg, tmp);
  authReg = await startRegistry({ host: lab.gateway, auth: { kind: "htpasswd", username: "berth", password: "cli-s3cret" } });
  agent = spawn(
    "nsenter",
    [
      `--net=/run/netns/${lab.hosts[0]!.netns}`,
      "--",
      process.execPath,
      agentBundlePath,
      "run",
      "--state-dir",
      stateDir,
      "--docker-socket",
      socket,
      "--registry-mirror",
      reg.url,
      "--insecure-registry",
      reg.domain,
      "--insecure-registry",
      authReg.domain,
    ],
    {
      env: { ...process.env, BERTH_NETWORKING: "1", BERTH_CGROUP_PARENT: cgroupParent, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  agent.stdout!.on("data", (d: Buffer) => (agentLog = (agentLog + d).slice(-50_000)));
  agent.stderr!.on("data", (d: Buffer) => (agentLog = (agentLog + d).slice(-50_000)));
  const probe = dockerCli(socket, join(tmp, "probe-config"), clis[0]!);
  await waitFor(
    "the agent's Docker API",
    async () => {
      if (agent.exitCode !== null) throw new Error(`the agent exited: ${agentLog}`);
      return existsSync(socket) && (await probe.run(["version"])).code === 0;
    },
    30_000,
  );
});

after(async () => {
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

for (const [pass, bin] of clis.entries()) describe(`the workflow with ${bin}`, () => workflow(pass, bin));

/** One user's workflow through one CLI binary; `pass` keeps its names, ports and subnet apart from the other passes'. */
function workflow(pass: number, bin: string): void {
  const dir = join(tmp, `pass${pass}`);
  mkdirSync(join(dir, "docker-config"), { recursive: true });
  // Its own config dir, so logins from one pass do not carry over to the next.
  const docker = dockerCli(socket, join(dir, "docker-config"), bin);
  const n = (base: string) => `${base}-p${pass}`;
  const [web1, lines, interactive, att, target, upd, n1, n2, vol1, spare] = [
    "web1",
    "lines",
    "interactive",
    "att",
    "target",
    "upd",
    "n1",
    "n2",
    "vol1",
    "spare",
  ].map(n) as [string, string, string, string, string, string, string, string, string, string];
  const snap = `${n("snap")}:v1`;
  const port = 8081 + pass;
  const subnet = `10.95.${pass}.0/24`;
  const bb = `cli/${n("bb")}:v1`;
  let events: ChildProcess | undefined;
  let eventLog = "";
  /** The API version this CLI and Berth settled on (set by the first test). */
  let api = "";

  const ok = async (args: string[], opts?: { input?: string }) => {
    const r = await docker.run(args, opts);
    assert.equal(r.code, 0, `${bin} ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}\nagent log:\n${agentLog.slice(-3000)}`);
    return r.stdout;
  };

  before(() => {
    events = spawn(bin, ["events", "--format", "{{json .}}"], { env: docker.env, stdio: ["ignore", "pipe", "inherit"] });
    events.stdout!.on("data", (d: Buffer) => (eventLog += d.toString()));
  });

  after(async () => {
    events?.kill();
    // What a failed step left behind would make the next pass's counts wrong.
    await docker.run(["rm", "-f", web1, lines, att, target, upd, interactive]);
    await docker.run(["network", "rm", n1, n2]);
    await docker.run(["volume", "rm", "-f", vol1, spare]);
  });

  test("version negotiation: the CLI settles on the lower of its API version and Berth's", async () => {
    const [clientDefault, server, client] = (
      await ok(["version", "--format", "{{.Client.DefaultAPIVersion}} {{.Server.APIVersion}} {{.Client.APIVersion}}"])
    )
      .trim()
      .split(" ");
    // Debian's 20.10 client speaks 1.41 and stays there; newer ones (v28: 1.50) come down to 1.47.
    const expected = negotiatedVersion(clientDefault!, SERVER_API);
    assert.equal(server, SERVER_API, "the server reports its own version");
    assert.equal(client, expected, `${bin} (default API ${clientDefault})`);
    api = expected;
    assert.match(await ok(["info", "--format", "{{.OSType}} {{.Driver}} {{.CgroupDriver}}"]), /^linux overlay cgroupfs/);
  });

  test("run -d with a published port, ps, inspect, logs -f", async () => {
    const id = (
      await ok([
        "run",
        "-d",
        "--name",
        web1,
        "-p",
        `${port}:80`,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-web1 > /www/index.html && echo serving && exec httpd -f -p 80 -h /www",
      ])
    ).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await ok(["ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.Ports}}"]);
    assert.match(ps, new RegExp(`^${web1}\\|Up .*\\|0\\.0\\.0\\.0:${port}->80/tcp`, "m"));
    assert.equal((await ok(["inspect", "-f", "{{.State.Running}} {{.Id}}", web1])).trim(), `true ${id}`);
    // The published port answers on the lab host's address.
    const host = lab.hosts[0]!.address;
    const body = await waitFor(
      "web1 answering on the published port",
      async () => {
        const r = await fetch(`http://${host}:${port}/`).catch(() => null);
        return r?.ok ? r.text() : null;
      },
      15_000,
    );
    assert.equal(body, "hello-web1\n");

    await ok([
      "run",
      "-d",
      "--name",
      lines,
      "busybox",
      "sh",
      "-c",
      "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo oops >&2; echo finished > /tmp/state",
    ]);
    const logs = await docker.run(["logs", "-f", lines]);
    assert.equal(logs.code, 0);
    assert.equal(logs.stdout, "line1\nline2\nline3\n");
    assert.equal(logs.stderr, "oops\n", "stderr stays stderr through the multiplexed stream");
  });

  test("exec -it: a command typed into a shell in the container", async () => {
    const r = await docker.tty(
      ["exec", "-it", web1, "sh"],
      [
        // ash asks for the cursor position after its prompt (ESC[6n), so the prompt is not the last thing shown.
        { wait: /\/ # /, send: "echo typed-$((6*7))\r" },
        { wait: /typed-42/, send: "exit\r" },
      ],
    );
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /typed-42/);
    assert.match(await ok(["exec", web1, "cat", "/www/index.html"]), /hello-web1/);
  });

  test("run --rm -it: an interactive shell, its exit code, and the container gone", async () => {
    const r = await docker.tty(
      ["run", "--rm", "-it", "--name", interactive, "busybox", "sh"],
      [
        { wait: /\/ # /, send: "echo inside-$((2+3)) && tty\r" },
        { wait: /inside-5[\s\S]*\/dev\/pts/, send: "exit 3\r" },
      ],
    );
    assert.equal(r.code, 3, r.output);
    await waitFor(
      "the --rm container removed",
      async () => !(await ok(["ps", "-a", "--format", "{{.Names}}"])).includes(interactive),
      10_000,
    );
    // stdin without a TTY.
    assert.equal(await ok(["run", "--rm", "-i", "busybox", "cat"], { input: "through stdin\n" }), "through stdin\n");
  });

  test("attach to a running container, type, detach with ctrl-p ctrl-q", async () => {
    await ok(["run", "-dit", "--name", att, "busybox", "sh"]);
    const r = await docker.tty(["attach", att], [{ send: "echo attached-$((5*5))\r" }, { wait: /attached-25/, send: "\x10\x11" }]);
    assert.match(r.output, /attached-25/);
    assert.match(r.output, /read escape sequence/);
    assert.equal((await ok(["inspect", "-f", "{{.State.Running}}", att])).trim(), "true", "detaching leaves it running");
    await ok(["rm", "-f", att]);
  });

  test("networks: create, ls, inspect, run --network and ping by name, connect, disconnect, rm", async () => {
    const id = (await ok(["network", "create", "--subnet", subnet, n1])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await ok(["network", "create", "--scope", "local", n2]);
    assert.match(await ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]), new RegExp(`^${n1} bridge$`, "m"));
    assert.equal((await ok(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", n1])).trim(), subnet);
    await ok(["run", "-d", "--name", target, "--network", n1, "busybox", "sleep", "300"]);
    const ping = (net: string) =>
      docker.run(["run", "--rm", "--network", net, "--cap-add", "NET_RAW", "busybox", "ping", "-c", "1", "-W", "2", target]);
    const same = await ping(n1);
    assert.equal(same.code, 0, same.stderr + same.stdout);
    assert.match(same.stdout, /1 packets received/);
    assert.notEqual((await ping(n2)).code, 0, "another network cannot reach it");
    await ok(["network", "connect", n2, target]);
    assert.equal((await ping(n2)).code, 0, "reachable once connected to n2");
    await ok(["network", "disconnect", n2, target]);
    assert.notEqual((await ping(n2)).code, 0, "unreachable again after disconnect");
    await ok(["rm", "-f", target]);
    await ok(["network", "rm", n1, n2]);
    const left = (await ok(["network", "ls", "--format", "{{.Name}}"])).split("\n");
    assert.ok(!left.includes(n1) && !left.includes(n2), left.join(" "));
  });

  test("volumes: create, ls, inspect, -v mounts keep data, rm", async () => {
    await ok(["volume", "create", "--label", "team=cli", vol1]);
    assert.match(await ok(["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]), new RegExp(`^local ${vol1}$`, "m"));
    assert.equal((await ok(["volume", "inspect", "-f", "{{.Labels.team}}", vol1])).trim(), "cli");
    await ok(["run", "--rm", "-v", `${vol1}:/data`, "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert.equal(await ok(["run", "--rm", "-v", `${vol1}:/data:ro`, "busybox", "cat", "/data/f"]), "kept\n");
    const ro = await docker.run(["run", "--rm", "-v", `${vol1}:/data:ro`, "busybox", "touch", "/data/g"]);
    assert.notEqual(ro.code, 0, "a read-only mount refuses writes");
    await ok(["volume", "rm", vol1]);

    // prune: before API 1.42 every unused volume goes, from 1.42 only anonymous ones unless --all.
    await ok(["volume", "create", spare]);
    await ok(["volume", "prune", "-f"]);
    const kept = (await ok(["volume", "ls", "-q"])).split("\n").includes(spare);
    assert.equal(kept, compareApiVersions(api, "1.42") >= 0, `a named unused volume after prune at API ${api}`);
    if (kept) {
      await ok(["volume", "prune", "-f", "--all"]);
      assert.ok(!(await ok(["volume", "ls", "-q"])).split("\n").includes(spare), "prune --all removes it");
    }
  });

  test("lifecycle: stop, start, restart, top, stats --no-stream, rm -f", async () => {
    await ok(["stop", "-t", "1", web1]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", web1])).trim(), "exited");
    await ok(["start", web1]);
    await ok(["restart", "-t", "1", web1]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", web1])).trim(), "running");
    assert.match(await ok(["top", web1]), /httpd -f -p 80/);
    const stats = await ok(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", web1]);
    assert.match(stats, new RegExp(`^${web1} [\\d.]+[KMG]i?B / [\\d.]+[KMG]i?B \\d+$`, "m"));
    // update changes the limits it names and leaves the restart policy alone (the CLI sends an empty one).
    await ok(["run", "-d", "--name", upd, "--restart", "always", "busybox", "sleep", "300"]);
    await ok(["update", "--cpus", "0.5", "--memory", "64m", "--memory-swap", "128m", upd]);
    assert.equal(
      (await ok(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", upd])).trim(),
      "always 500000000 67108864",
    );
    await ok(["rm", "-f", upd]);
  });

  test("images: pull, tag, push, rmi against the local registry, and login to a basic-auth registry", async () => {
    assert.match(await ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]), /^busybox:latest$/m);
    const pulled = await ok(["pull", `${reg.domain}/library/busybox`]);
    assert.match(pulled, /Status: (Downloaded newer image|Image is up to date) for/);
    await ok(["tag", "busybox", `${reg.domain}/${bb}`]);
    assert.match(await ok(["push", `${reg.domain}/${bb}`]), /v1: digest: sha256:[0-9a-f]{64}/);
    assert.match(await ok(["rmi", `${reg.domain}/${bb}`]), /Untagged: /);
    assert.match(await ok(["pull", `${reg.domain}/${bb}`]), /Status: /);

    await ok(["tag", "busybox", `${authReg.domain}/${bb}`]);
    const denied = await docker.run(["push", `${authReg.domain}/${bb}`]);
    assert.notEqual(denied.code, 0, "pushing without credentials fails");
    const bad = await docker.run(["login", authReg.domain, "-u", "berth", "--password-stdin"], { input: "wrong\n" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unauthorized/);
    assert.match(await ok(["login", authReg.domain, "-u", "berth", "--password-stdin"], { input: "cli-s3cret\n" }), /Login Succeeded/);
    assert.match(await ok(["push", `${authReg.domain}/${bb}`]), /v1: digest: sha256:/);
  });

  test("files and snapshots: cp both ways, commit, save/load, export", async () => {
    writeFileSync(join(dir, "from-host.txt"), "copied in\n");
    await ok(["cp", join(dir, "from-host.txt"), `${web1}:/tmp/`]);
    assert.equal(await ok(["exec", web1, "cat", "/tmp/from-host.txt"]), "copied in\n");
    await ok(["cp", `${web1}:/www/index.html`, join(dir, "out.html")]);
    assert.equal(readFileSync(join(dir, "out.html"), "utf8"), "hello-web1\n");
    // From a stopped container too: what it wrote is in its writable layer.
    await ok(["cp", `${lines}:/tmp/state`, join(dir, "state")]);
    assert.equal(readFileSync(join(dir, "state"), "utf8"), "finished\n");

    const img = (await ok(["commit", "-c", 'CMD ["cat", "/tmp/from-host.txt"]', web1, snap])).trim();
    assert.match(img, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(["run", "--rm", snap]), "copied in\n");
    await ok(["save", "-o", join(dir, "snap.tar"), snap]);
    await ok(["rmi", snap]);
    assert.match(await ok(["load", "-i", join(dir, "snap.tar")]), new RegExp(`Loaded image: ${snap}`));
    assert.equal(await ok(["run", "--rm", snap]), "copied in\n");
    await ok(["export", "-o", join(dir, "web1.tar"), web1]);
    assert.ok(readFileSync(join(dir, "web1.tar")).includes(Buffer.from("copied in\n")), "the export holds the copied file");
  });

  test("housekeeping: container prune, system df", async () => {
    assert.match(await ok(["container", "prune", "-f"]), /Total reclaimed space/);
    assert.ok(!(await ok(["ps", "-a", "--format", "{{.Names}}"])).split("\n").includes(lines), "the exited container is pruned");
    const df = await ok(["system", "df"]);
    assert.match(df, /^Images\s+\d+/m);
    assert.match(df, /^Containers\s+1\s+1\s/m, "web1, running");
    // -v: busybox's size (VirtualSize for older CLIs) and the space it shares with snap, which is built on it.
    const row = (await ok(["system", "df", "-v"])).split("\n").find((l) => /^busybox\s+latest\s/.test(l));
    assert.ok(row, "busybox in system df -v");
    const [, , , , size, sharedSize, uniqueSize] = row.trim().split(/\s{2,}/);
    assert.match(size ?? "", /^[\d.]+[kM]B$/, row);
    assert.match(sharedSize ?? "", /^[\d.]+[kM]B$/, row);
    assert.equal(uniqueSize, "0B", `busybox's one layer is shared with ${snap}: ${row}`);
    // system prune also prunes the build cache, which Berth never has.
    assert.match(await ok(["system", "prune", "-f"]), /Total reclaimed space/);
  });

  test("errors: a missing container, a name conflict, a bad image reference", async () => {
    const missing = await docker.run(["logs", "nope"]);
    assert.equal(missing.code, 1);
    // The daemon's 404 message; docker 20.10 prints it as its own "Error: …", newer CLIs quote the daemon.
    assert.match(missing.stderr, /^(Error response from daemon|Error): No such container: nope$/m);
    const clash = await docker.run(["run", "-d", "--name", web1, "busybox", "true"]);
    assert.equal(clash.code, 125);
    assert.match(clash.stderr, new RegExp(`Conflict\\. The container name "/${web1}" is already in use by container "[0-9a-f]{64}"`));
    const badRef = await docker.run(["run", "--rm", "Bad//Ref", "true"]);
    assert.equal(badRef.code, 125);
    assert.match(badRef.stderr, /invalid reference format/);
    const noImage = await docker.run(["pull", `${reg.domain}/nosuch/image:v1`]);
    assert.notEqual(noImage.code, 0);
    assert.match(noImage.stderr + noImage.stdout, /not found|unknown/i);
  });

  test("events: what the others did arrived on the event stream", async () => {
    await ok(["rm", "-f", web1]);
    const seen = () =>
      eventLog
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } });
    await waitFor(
      "web1's destroy event",
      async () => seen().some((e) => e.Action === "destroy" && e.Actor.Attributes.name === web1),
      10_000,
    );
    const all = seen();
    const actions = all.filter((e) => e.Type === "container" && e.Actor.Attributes.name === web1).map((e) => e.Action);
    for (const a of ["create", "start", "die", "restart", "destroy"]) assert.ok(actions.includes(a), `web1 ${a} in ${actions.join(",")}`);
    assert.ok(all.some((e) => e.Actor.Attributes.name === interactive && e.Action === "destroy"));
    const has = (type: string, action: string, name: string) =>
      all.some((e) => e.Type === type && e.Action === action && e.Actor.Attributes.name === name);
    assert.ok(has("network", "create", n1) && has("network", "connect", n2) && has("network", "destroy", n2), "network events");
    assert.ok(
      ["create", "destroy"].every((a) => all.some((e) => e.Type === "volume" && e.Action === a && e.Actor.ID === vol1)),
      "volume events",
    );
    assert.ok(has("image", "tag", `${reg.domain}/${bb}`) && has("image", "untag", `${reg.domain}/${bb}`), "image events");
  });
}
