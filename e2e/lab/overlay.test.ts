// Lab: an overlay network across three network-namespace hosts, each with a real agent. The
// control plane allocates the addresses; each agent programs VXLAN, FDB and neighbour entries
// from its records. Containers reach each other by name across hosts in both directions, an
// address that moves to another host works at once, and the MTU is the underlay's less 50. An
// encrypted network shows no plaintext on the underlay, and a host that fails to program a
// network reports it and repairs it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, setGlobalDispatcher } from "undici";
import { createLab, type Lab } from "@berth/test-support/lab";
import { startTestControlPlane, trpcError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { DEBIAN_DOCKER, dockerCli, type DockerCli } from "@berth/test-support/docker-cli";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { freeLoopbackPort } from "../../scripts/postgres.ts";

let lab: Lab;
let t: TestControlPlane;
let owner: UserClient;
let mirror: TestRegistry;
let teamId: string;
let networkId: string;
const tmp = mkdtempSync(join(tmpdir(), "berth-overlay-"));
const agents: TestAgent[] = [];
/** The docker CLI on each lab host's agent socket, h1..h3. */
const docker: DockerCli[] = [];

before(async () => {
  // Three hosts with agents, and a fourth namespace as "the internet" (a client, no agent).
  lab = await createLab(4);
  t = await startTestControlPlane({ host: lab.gateway, port: await freeLoopbackPort() });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(t.env.TLS_CERT_FILE!) } }));
  owner = await t.signUp("overlay-owner@example.com");
  teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  mirror = await startRegistry({ host: lab.gateway });
  await seedBusybox(mirror, tmp);
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
  for (const h of lab.hosts.slice(0, 3)) {
    const dir = join(tmp, h.name);
    agents.push(spawnAgent({ url: t.url, token, stateDir: dir, name: h.name, netns: h.netns, registryMirror: mirror.url }));
    mkdirSync(join(tmp, `${h.name}-cli`), { recursive: true });
    docker.push(dockerCli(join(dir, "docker.sock"), join(tmp, `${h.name}-cli`), DEBIAN_DOCKER));
  }
  await waitFor(
    "three hosts linked",
    async () => (await owner.trpc.hosts.list.query()).filter((h) => h.connected).length === 3,
    60_000,
    250,
  );
  networkId = (await owner.trpc.overlays.create.mutate({ teamId, name: "ovl", attachable: true })).id;
});

after(async () => {
  for (const a of agents) await a.stop().catch(() => undefined);
  await t?.close();
  await mirror?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function ok(cli: DockerCli, args: string[]): Promise<string> {
  const r = await cli.run(args);
  assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A container on the overlay network that idles (ping needs NET_RAW, as with Docker). */
const runOn = (cli: DockerCli, name: string) =>
  ok(cli, ["run", "-d", "--name", name, "--network", "ovl", "--cap-add", "NET_RAW", "busybox", "sleep", "3600"]);

const ping = (cli: DockerCli, from: string, to: string) => cli.run(["exec", from, "ping", "-c", "1", "-W", "2", to]);

test("overlay networks are refused on an agent and validated on the control plane", async () => {
  const r = await docker[0]!.run(["network", "create", "-d", "overlay", "nope"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /created on the control plane/);
  // Every host lists the network, with swarm scope.
  await waitFor(
    "ovl listed on every host",
    async () => {
      for (const cli of docker)
        if (!(await ok(cli, ["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"])).includes("ovl overlay swarm")) return false;
      return true;
    },
    20_000,
    200,
  );
  const dup = await trpcError(owner.trpc.overlays.create.mutate({ teamId, name: "ovl" }));
  assert.equal(dup.code, "CONFLICT");
  const subnet = (await owner.trpc.overlays.get.query({ id: networkId })).subnet;
  const overlap = await trpcError(owner.trpc.overlays.create.mutate({ teamId, name: "other", subnet }));
  assert.match(overlap.message, /overlaps network ovl/);
  const opt = await trpcError(owner.trpc.overlays.create.mutate({ teamId, name: "other", options: { "com.example.bogus": "1" } }));
  assert.match(opt.message, /unknown driver option com\.example\.bogus/);
  const vni = (await owner.trpc.overlays.get.query({ id: networkId })).vni;
  const taken = await trpcError(
    owner.trpc.overlays.create.mutate({
      teamId,
      name: "other",
      options: { "com.docker.network.driver.overlay.vxlanid_list": String(vni) },
    }),
  );
  assert.match(taken.message, new RegExp(`VNI ${vni} is in use`));
});

test("containers on three hosts reach each other by name, in both directions", async () => {
  for (const [i, cli] of docker.entries()) await runOn(cli, `c${i + 1}`);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      const r = await ping(docker[i]!, `c${i + 1}`, `c${j + 1}`);
      assert.equal(r.code, 0, `c${i + 1} (h${i + 1}) → c${j + 1} (h${j + 1}): ${r.stdout} ${r.stderr}`);
    }
  const net = await owner.trpc.overlays.get.query({ id: networkId });
  assert.equal(net.endpointList.length, 3);
  assert.deepEqual(new Set(net.endpointList.map((e) => e.host.name)), new Set(["lab-h1", "lab-h2", "lab-h3"]));
});

test("an address that moves to another host answers at once, 50 times over", async () => {
  const endpoints = async () => (await owner.trpc.overlays.get.query({ id: networkId })).endpointList;
  const before = (await endpoints()).length;
  let reused = 0;
  let lastIp = "";
  for (let k = 0; k < 50; k++) {
    const cli = docker[1 + (k % 2)]!; // h2, h3, h2, …
    await runOn(cli, "mover");
    const ip = await ok(cli, ["inspect", "-f", "{{.NetworkSettings.Networks.ovl.IPAddress}}", "mover"]);
    if (ip === lastIp) reused++;
    lastIp = ip;
    // One try, right after the start: no entry may still point at the host the address was on.
    const r = await ping(docker[0]!, "c1", ip);
    assert.equal(r.code, 0, `round ${k}: c1 → mover at ${ip} on h${2 + (k % 2)}: ${r.stdout} ${r.stderr}`);
    await ok(cli, ["rm", "-f", "mover"]);
    await waitFor("mover's address freed", async () => (await endpoints()).length === before, 10_000, 50);
  }
  assert.ok(reused >= 45, `the address was reused in ${reused} of 49 moves`);
});

/** The MTU of eth0 inside a container. */
const mtuOf = async (cli: DockerCli, name: string) => Number(await ok(cli, ["exec", name, "cat", "/sys/class/net/eth0/mtu"]));

/** Runs python3 in a container's network namespace (the test's own tool, not the image's). */
function inNetns(pid: number, script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "python3", "-c", script, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("exit", (code) => resolve({ code: code ?? 1, out }));
  });
}

const RECEIVE = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9999)); s.settimeout(5)
sizes = []
try:
    while True:
        data, _ = s.recvfrom(65535); sizes.append(len(data))
        if data[:4] == b"done": break
except socket.timeout: pass
print(" ".join(map(str, sizes)))`;

const SEND = `
import socket, sys, time
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
for n in map(int, sys.argv[2:]):
    try:
        s.sendto(b"x" * n, (sys.argv[1], 9999)); print(n, "sent")
    except OSError as e: print(n, "refused", e.errno)
    time.sleep(0.2)
s.sendto(b"done", (sys.argv[1], 9999))`;

test("the MTU is the underlay's less 50: don't-fragment UDP of MTU-28 bytes crosses hosts, one byte more does not", async () => {
  const mtu = await mtuOf(docker[0]!, "c1");
  assert.equal(mtu, 1450, "a 1500-byte underlay gives 1450 inside");
  const pid = async (cli: DockerCli, name: string) => Number(await ok(cli, ["inspect", "-f", "{{.State.Pid}}", name]));
  const c2ip = await ok(docker[1]!, ["inspect", "-f", "{{.NetworkSettings.Networks.ovl.IPAddress}}", "c2"]);
  const receiver = inNetns(await pid(docker[1]!, "c2"), RECEIVE, []);
  await new Promise((r) => setTimeout(r, 300));
  const sent = await inNetns(await pid(docker[0]!, "c1"), SEND, [c2ip, String(mtu - 28), String(mtu - 27)]);
  const got = await receiver;
  assert.match(sent.out, new RegExp(`${mtu - 28} sent`));
  assert.match(sent.out, new RegExp(`${mtu - 27} refused 90`), "one byte more is refused (EMSGSIZE), never fragmented");
  assert.deepEqual(got.out.trim().split(" ").map(Number), [mtu - 28, 4], `received: ${got.out}`);

  // Lower h3's underlay to 1400: its overlay devices, made again, take 1350.
  await ok(docker[2]!, ["rm", "-f", "c3"]);
  await waitFor(
    "h3 left ovl",
    async () => (await owner.trpc.overlays.get.query({ id: networkId })).endpointList.every((e) => e.host.name !== "lab-h3"),
    10_000,
    50,
  );
  await new Promise<void>((resolve, reject) =>
    spawn("ip", ["-n", lab.hosts[2]!.netns, "link", "set", "eth0", "mtu", "1400"]).on("exit", (c) =>
      c === 0 ? resolve() : reject(new Error(`ip: ${c}`)),
    ),
  );
  await runOn(docker[2]!, "c3");
  assert.equal(await mtuOf(docker[2]!, "c3"), 1350);
  const r = await ping(docker[2]!, "c3", "c1");
  assert.equal(r.code, 0, r.stderr);
});

/** A command's standard output (it must succeed). */
function runFor(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/** Receives UDP on 9998 for 6 s (or until "done"), printing each datagram. */
const RECEIVE_TEXT = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9998)); s.settimeout(6)
try:
    while True:
        data, _ = s.recvfrom(2048)
        if data == b"done": break
        print(data.decode())
except socket.timeout: pass`;

const SEND_TEXT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(sys.argv[2].encode(), (sys.argv[1], 9998)); time.sleep(0.05)
s.sendto(b"done", (sys.argv[1], 9998))`;

/**
 * Sends a fresh marker from container \`from\` on h1 to \`to\` on h2 over \`network\` while h2's underlay
 * (its eth0) is captured: whether the receiver got it, and whether the capture shows it.
 */
async function markerOnUnderlay(
  network: string,
  from: string,
  to: string,
): Promise<{ received: boolean; captured: boolean; bytes: number }> {
  const marker = `berth-marker-${Math.random().toString(36).slice(2, 12)}`;
  const pid = async (cli: DockerCli, name: string) => Number(await ok(cli, ["inspect", "-f", "{{.State.Pid}}", name]));
  const toIp = await ok(docker[1]!, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, to]);
  const capture = spawn(
    "nsenter",
    [`--net=/run/netns/${lab.hosts[1]!.netns}`, "--", "tcpdump", "-i", "eth0", "-n", "--immediate-mode", "-U", "-s", "0", "-w", "-"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const chunks: Buffer[] = [];
  let size = 0;
  capture.stdout.on("data", (d: Buffer) => {
    // Bounded: a few packets are expected, never more than 16 MiB.
    if (size < 16 << 20) chunks.push(d);
    size += d.length;
  });
  const closed = new Promise((r) => capture.on("close", r));
  try {
    await new Promise<void>((resolve, reject) => {
      let err = "";
      capture.stderr.on("data", (d) => {
        err += d;
        if (err.includes("listening on")) resolve();
      });
      capture.on("exit", (code) => reject(new Error(`tcpdump exited (${code}): ${err}`)));
    });
    const receiver = inNetns(await pid(docker[1]!, to), RECEIVE_TEXT, []);
    await new Promise((r) => setTimeout(r, 300));
    await inNetns(await pid(docker[0]!, from), SEND_TEXT, [toIp, marker]);
    const got = await receiver;
    // Packets reach the capture's output soon after they crossed, not before: wait for the marker
    // (a plain network's), or for the capture to go quiet (an encrypted one's).
    let seen = -1;
    for (let waited = 0; waited < 5000 && !Buffer.concat(chunks).includes(marker); waited += 100) {
      if (size === seen && waited >= 1000) break;
      seen = size;
      await new Promise((r) => setTimeout(r, 100));
    }
    capture.kill("SIGINT");
    await closed;
    const pcap = Buffer.concat(chunks);
    return { received: got.out.includes(marker), captured: pcap.includes(marker), bytes: pcap.length };
  } finally {
    capture.kill("SIGKILL");
  }
}

test("an encrypted network: a marker between containers never shows on the underlay (it does on a plain one), and its MTU is 110 less", async () => {
  const sec = await owner.trpc.overlays.create.mutate({ teamId, name: "sec", attachable: true, encrypted: true });
  const runSec = (cli: DockerCli, name: string) =>
    ok(cli, ["run", "-d", "--name", name, "--network", "sec", "--cap-add", "NET_RAW", "busybox", "sleep", "3600"]);
  await runSec(docker[0]!, "e1");
  await runSec(docker[1]!, "e2");
  // WireGuard's 60 bytes (IPv4 underlay) and VXLAN's 50 come off a 1500-byte underlay.
  assert.equal(await mtuOf(docker[0]!, "e1"), 1390);
  // By name both ways, through the tunnel.
  let r = await ping(docker[0]!, "e1", "e2");
  assert.equal(r.code, 0, `e1 → e2: ${r.stdout} ${r.stderr}`);
  r = await ping(docker[1]!, "e2", "e1");
  assert.equal(r.code, 0, `e2 → e1: ${r.stdout} ${r.stderr}`);

  const plain = await markerOnUnderlay("ovl", "c1", "c2");
  assert.ok(plain.received, "the marker crossed the plain network");
  assert.ok(plain.captured, `the capture of the underlay shows a plain network's payload (the capture works; ${plain.bytes} bytes seen)`);
  const sealed = await markerOnUnderlay("sec", "e1", "e2");
  assert.ok(sealed.received, "the marker crossed the encrypted network");
  assert.ok(sealed.bytes > 5 * 100, `the capture saw the encrypted packets (${sealed.bytes} bytes)`);
  assert.ok(!sealed.captured, "no plaintext of an encrypted network on the underlay");

  // Don't-fragment UDP of MTU-28 bytes crosses; one byte more is refused.
  const pid = async (cli: DockerCli, name: string) => Number(await ok(cli, ["inspect", "-f", "{{.State.Pid}}", name]));
  const e2ip = await ok(docker[1]!, ["inspect", "-f", "{{.NetworkSettings.Networks.sec.IPAddress}}", "e2"]);
  const receiver = inNetns(await pid(docker[1]!, "e2"), RECEIVE, []);
  await new Promise((res) => setTimeout(res, 300));
  const sent = await inNetns(await pid(docker[0]!, "e1"), SEND, [e2ip, "1362", "1363"]);
  const got = await receiver;
  assert.match(sent.out, /1363 refused 90/);
  assert.deepEqual(got.out.trim().split(" ").map(Number), [1362, 4], `received: ${got.out}`);

  // With the last encrypted endpoint of a host gone, its tunnel goes too.
  const tunnels = async (netns: string) =>
    (JSON.parse(await runFor("ip", ["-n", netns, "-j", "link", "show"])) as { ifname: string }[]).filter((l) => l.ifname.startsWith("bwg"));
  assert.equal((await tunnels(lab.hosts[0]!.netns)).length, 1, "h1 has its tunnel while e1 runs");
  await ok(docker[0]!, ["rm", "-f", "e1"]);
  await ok(docker[1]!, ["rm", "-f", "e2"]);
  await waitFor("sec empty", async () => (await owner.trpc.overlays.get.query({ id: sec.id })).endpoints === 0, 10_000, 100);
  await waitFor("h1's tunnel gone", async () => (await tunnels(lab.hosts[0]!.netns)).length === 0, 10_000, 100);
});

test("a host that fails to program a network reports it on the network's page, and repairs it", async () => {
  // Pull h2's VXLAN device for ovl out from under its agent, then change the network.
  const vxlan = `vx-${networkId.replace(/[^a-z0-9]/gi, "").slice(-12)}`;
  await runFor("ip", ["-n", lab.hosts[1]!.netns, "link", "del", vxlan]);
  await runOn(docker[0]!, "c9");
  const failing = await waitFor(
    "h2 reports its failure",
    async () => {
      const errs = (await owner.trpc.overlays.get.query({ id: networkId })).hostErrors;
      return errs.length ? errs : null;
    },
    15_000,
    100,
  );
  assert.deepEqual(
    failing.map((f) => f.host.name),
    ["lab-h2"],
  );
  assert.match(failing[0]!.error, new RegExp(vxlan), "the error names what failed");
  assert.equal((await owner.trpc.overlays.list.query()).find((n) => n.id === networkId)!.failingHosts, 1);
  // The agent repairs it from the devices up; the page clears, and h2 reaches the new container.
  await waitFor("h2 repaired", async () => (await owner.trpc.overlays.get.query({ id: networkId })).hostErrors.length === 0, 20_000, 200);
  const r = await ping(docker[1]!, "c2", "c9");
  assert.equal(r.code, 0, `c2 → c9 after the repair: ${r.stdout} ${r.stderr}`);
  await ok(docker[0]!, ["rm", "-f", "c9"]);
});

async function sysctl(netns: string, key: string, value: string): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    spawn("nsenter", [`--net=/run/netns/${netns}`, "--", "sysctl", "-q", "-w", `${key}=${value}`]).on("exit", (c) =>
      c === 0 ? resolve() : reject(new Error(`sysctl ${key}: ${c}`)),
    ),
  );
}

type Task = Awaited<ReturnType<UserClient["trpc"]["services"]["tasks"]["query"]>>[number];

/** Which task answered each of `n` requests to `url`, made from container c1 on h1 (busybox wget, a new connection each). */
async function answers(url: string, n: number): Promise<Map<string, number>> {
  const out = await ok(docker[0]!, [
    "exec",
    "c1",
    "sh",
    "-c",
    `i=0; while [ $i -lt ${n} ]; do wget -q -O - ${url} || echo failed; i=$((i+1)); done`,
  ]);
  const counts = new Map<string, number>();
  for (const line of out.split("\n")) if (line.trim()) counts.set(line.trim(), (counts.get(line.trim()) ?? 0) + 1);
  return counts;
}

test("a service's name balances over its serving tasks on every host, and tasks.<name> lists them", async () => {
  const ONE_SECOND = 1_000_000_000;
  const svc = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "web",
      task: {
        image: "busybox",
        // Each task serves its own hostname (its container's short id); it is healthy while /tmp/ok exists.
        args: ["sh", "-c", "mkdir -p /www && hostname > /www/i && touch /tmp/ok && exec httpd -f -p 80 -h /www"],
        networks: [{ target: "ovl" }],
        healthcheck: { Test: ["CMD", "test", "-f", "/tmp/ok"], Interval: ONE_SECOND, Retries: 1, Timeout: ONE_SECOND },
      },
      mode: { kind: "replicated", replicas: 3 },
    },
  });
  try {
    let tasks: Task[] = [];
    const serving = async () => (await owner.trpc.overlays.get.query({ id: networkId })).endpointList.filter((e) => e.serving);
    await waitFor(
      "3 tasks running and serving",
      async () => {
        tasks = (await owner.trpc.services.tasks.query({ id: svc.id })).filter(
          (x) => x.desiredState === "running" && x.state === "running",
        );
        const ids = new Set(tasks.map((x) => x.containerId));
        return tasks.length === 3 && (await serving()).filter((e) => ids.has(e.containerId)).length === 3;
      },
      90_000,
      250,
    );
    assert.equal(new Set(tasks.map((x) => x.host?.name)).size, 3, "one task per host");
    const hostname = (x: Task) => x.containerId!.slice(0, 12);

    // tasks.web: exactly the running tasks' addresses.
    const taskIps = async () => {
      const eps = (await owner.trpc.overlays.get.query({ id: networkId })).endpointList;
      return new Set(tasks.map((x) => eps.find((e) => e.containerId === x.containerId)!.ip));
    };
    const lookup = async (name: string) => {
      const out = await ok(docker[0]!, ["exec", "c1", "nslookup", name]);
      // busybox nslookup: the server's lines first, then "Name: …" and "Address: …" per answer.
      return new Set(
        out
          .split("Name:")
          .slice(1)
          .join("")
          .match(/\d+\.\d+\.\d+\.\d+/g) ?? [],
      );
    };
    assert.deepEqual(await lookup("tasks.web"), await taskIps());
    const vip = [...(await lookup("web"))];
    assert.equal(vip.length, 1, "the service's name is one virtual address");
    assert.ok(!(await taskIps()).has(vip[0]!));

    // 3,000 requests through the name: each task takes a third, ± 5 points.
    const spread = await answers("http://web/i", 3000);
    assert.equal(spread.get("failed"), undefined, `failed requests: ${JSON.stringify([...spread])}`);
    for (const x of tasks) {
      const share = (spread.get(hostname(x)) ?? 0) / 3000;
      assert.ok(
        Math.abs(share - 1 / 3) <= 0.05,
        `task on ${x.host?.name} took ${(share * 100).toFixed(1)}%: ${JSON.stringify([...spread])}`,
      );
    }

    // A killed task takes nothing 1 s later.
    const killed = tasks[1]!;
    await ok(docker[lab.hosts.findIndex((h) => h.name === killed.host?.name)]!, ["kill", killed.containerId!]);
    await new Promise((r) => setTimeout(r, 1000));
    const afterKill = await answers("http://web/i", 150);
    assert.equal(afterKill.get(hostname(killed)) ?? 0, 0, `the killed task still answered: ${JSON.stringify([...afterKill])}`);
    assert.equal(afterKill.get("failed") ?? 0, 0);

    // An unhealthy task takes nothing within interval × retries + 1 s.
    const sick = tasks[2]!;
    await ok(docker[lab.hosts.findIndex((h) => h.name === sick.host?.name)]!, ["exec", sick.containerId!, "rm", "/tmp/ok"]);
    await new Promise((r) => setTimeout(r, 1 * 1 * 1000 + 1000));
    const afterSick = await answers("http://web/i", 150);
    assert.equal(afterSick.get(hostname(sick)) ?? 0, 0, `the unhealthy task still answered: ${JSON.stringify([...afterSick])}`);

    // An idle keep-alive connection through the VIP lives as long as conntrack keeps it: here
    // conntrack's own limit is lowered to 20 s, and a connection idle for 12 s still answers.
    await sysctl(lab.hosts[0]!.netns, "net.netfilter.nf_conntrack_tcp_timeout_established", "20");
    const idle = await ok(docker[0]!, ["exec", "c1", "sh", "-c", "(sleep 12; printf 'GET /i HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc web 80"]);
    assert.match(idle, /200 OK/, `after 12 s idle: ${idle}`);
  } finally {
    await owner.trpc.services.remove.mutate({ id: svc.id });
  }
});

/** GETs `url` from the client namespace ("the internet") `n` times, one connection each: the bodies. */
async function fromInternet(url: string, n: number): Promise<string[]> {
  const script = `
import sys, urllib.request
for _ in range(int(sys.argv[2])):
    try: print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())
    except Exception as e: print("failed", e)`;
  const p = spawn("nsenter", [`--net=/run/netns/${lab.hosts[3]!.netns}`, "--", "python3", "-c", script, url, String(n)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  await new Promise((r) => p.on("exit", r));
  return out.trim().split("\n");
}

test("the routing mesh: a published port answers on every host; a local task sees the client's address, a remote one answers too", async () => {
  const svc = await owner.trpc.services.create.mutate({
    teamId,
    spec: {
      name: "edge",
      task: {
        image: "busybox",
        // A CGI script answers with the task's hostname and the client address it sees.
        args: [
          "sh",
          "-c",
          "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $(hostname) $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www",
        ],
        placement: { constraints: ["node.hostname!=lab-h3"], maxReplicasPerHost: 1 },
      },
      mode: { kind: "replicated", replicas: 2 },
      endpoint: { ports: [{ target: 80, published: 8080 }] },
    },
  });
  try {
    let tasks: Task[] = [];
    await waitFor(
      "2 mesh tasks running",
      async () => {
        tasks = (await owner.trpc.services.tasks.query({ id: svc.id })).filter(
          (x) => x.desiredState === "running" && x.state === "running",
        );
        return tasks.length === 2;
      },
      90_000,
      250,
    );
    const onH1 = tasks.find((x) => x.host?.name === "lab-h1")!;
    const onH2 = tasks.find((x) => x.host?.name === "lab-h2")!;
    assert.ok(onH1 && onH2, "one task on h1 and one on h2");
    const client = lab.hosts[3]!.address;
    // Every host opens the port (h3 runs no task), once its mesh is programmed.
    for (const h of lab.hosts.slice(0, 3))
      await waitFor(
        `${h.name}:8080 answers`,
        async () => !(await fromInternet(`http://${h.address}:8080/cgi-bin/ip`, 1))[0]!.startsWith("failed"),
        30_000,
        250,
      );
    const viaH1 = await fromInternet(`http://${lab.hosts[0]!.address}:8080/cgi-bin/ip`, 20);
    const local = viaH1.filter((l) => l.startsWith(onH1.containerId!.slice(0, 12)));
    const remote = viaH1.filter((l) => l.startsWith(onH2.containerId!.slice(0, 12)));
    assert.equal(local.length + remote.length, 20, `answers via h1: ${viaH1.join(" | ")}`);
    assert.ok(local.length > 0 && remote.length > 0, `both tasks answer via h1: ${viaH1.join(" | ")}`);
    // busybox httpd writes the peer as [::ffff:a.b.c.d].
    const peer = (line: string) => line.split(" ")[1]!.replace(/^\[(::ffff:)?|\]$/g, "");
    for (const l of local) assert.equal(peer(l), client, "the task on the receiving host sees the client's address");
    for (const l of remote) assert.notEqual(peer(l), client, "a remote task sees the receiving host's mesh address");
    const viaH3 = await fromInternet(`http://${lab.hosts[2]!.address}:8080/cgi-bin/ip`, 10);
    assert.ok(
      viaH3.every((l) => !l.startsWith("failed")),
      `answers via h3 (no task there): ${viaH3.join(" | ")}`,
    );
  } finally {
    await owner.trpc.services.remove.mutate({ id: svc.id });
  }
});
