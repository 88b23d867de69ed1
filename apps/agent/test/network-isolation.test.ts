// Networks expose only what is published (lab): an agent in lab host berth-h1, and a neighbour
// namespace (berth-nb1) the test makes, joined to the agent's namespace by a veth and routing
// every bridge subnet through the agent host. The neighbour reaches published ports and nothing
// else; containers cannot reach the host's 127.0.0.1 services; each network's DNS answers its own
// subnet only; a running container connected to a second network resolves that network's names.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLab, killGroup, type Lab } from "@berth/test-support/lab";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { startLabRuntime, type LabRuntime } from "@berth/test-support/lab-runtime";

const run = promisify(execFile);
let lab: Lab;
let agent: LabRuntime;
let netns: string;
const stateDir = mkdtempSync(join(tmpdir(), "berth-iso-"));
const cgroupParent = `/berth-iso-test-${process.pid}`;

/** The neighbour: 192.0.2.2/30, its default route through the agent host's 192.0.2.1 (TEST-NET-1, inside the lab only). */
const NB = "berth-nb1";
const NB_ADDR = "192.0.2.2";
const HOST_ADDR = "192.0.2.1";
const DEFAULT_SUBNET = "10.89.0.0/24";
const DEFAULT_GW = "10.89.0.1";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A named lab namespace, or a process's (`/proc/<pid>/ns/net`). */
const nsPath = (ns: string) => (ns.startsWith("/") ? ns : `/run/netns/${ns}`);

/** A command in a lab namespace: exit code and stdout+stderr (never throws). */
async function inNs(ns: string, cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run("nsenter", [`--net=${nsPath(ns)}`, "--", cmd, ...args], { timeout: 30_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

/** curl from a lab namespace: the body, or "" when the connection fails. */
async function curl(ns: string, url: string): Promise<string> {
  const r = await inNs(ns, "curl", ["-s", "--max-time", "3", url]);
  return r.code === 0 ? r.out : "";
}

async function until(what: () => Promise<boolean>, tries = 60): Promise<void> {
  for (let i = 0; i < tries && !(await what()); i++) await sleep(150);
}

/** A small HTTP server in a lab namespace (node, own process group), answering `body`. */
function serveIn(ns: string, host: string, port: number, body: string): ChildProcess {
  const script = `require("http").createServer((q, s) => s.end(${JSON.stringify(body)})).listen(${port}, ${JSON.stringify(host)})`;
  return spawn("nsenter", [`--net=/run/netns/${ns}`, "--", process.execPath, "-e", script], { stdio: "ignore", detached: true });
}

/**
 * Asks `server` for `name` (type A, UDP) from a lab namespace: "answer <addresses>", "rcode <n>", or
 * "no reply" after a second. python3 of the host, run in the namespace.
 */
async function dnsFrom(ns: string, server: string, name: string): Promise<string> {
  const py = [
    "import socket, struct, sys",
    "q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0) + " +
      "b''.join(bytes([len(p)]) + p.encode() for p in sys.argv[2].split('.')) + b'\\0' + struct.pack('>HH', 1, 1)",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)",
    "s.sendto(q, (sys.argv[1], 53))",
    "try:\n m = s.recv(2048)\nexcept OSError:\n print('no reply'); sys.exit(0)",
    "rcode = m[3] & 15; an = struct.unpack('>H', m[6:8])[0]",
    "print('answer ' + ' '.join(socket.inet_ntoa(m[i+10:i+14]) for i in range(len(m)-13) " +
      "if m[i:i+4] == b'\\x00\\x01\\x00\\x01' and m[i+8:i+10] == b'\\x00\\x04') if rcode == 0 and an else 'rcode %d' % rcode)",
  ].join("\n");
  return (await inNs(ns, "python3", ["-c", py, server, name])).out.trim();
}

async function dropNeighbour(): Promise<void> {
  await run("ip", ["netns", "del", NB]).catch(() => undefined);
}

before(async () => {
  lab = await createLab(1);
  netns = lab.hosts[0]!.netns;
  await dropNeighbour();
  await run("ip", ["netns", "add", NB]);
  await run("ip", ["-n", NB, "link", "set", "lo", "up"]);
  await run("ip", ["-n", netns, "link", "add", "nb0", "type", "veth", "peer", "name", "eth0", "netns", NB]);
  await run("ip", ["-n", netns, "addr", "add", `${HOST_ADDR}/30`, "dev", "nb0"]);
  await run("ip", ["-n", netns, "link", "set", "nb0", "up"]);
  await run("ip", ["-n", NB, "addr", "add", `${NB_ADDR}/30`, "dev", "eth0"]);
  await run("ip", ["-n", NB, "link", "set", "eth0", "up"]);
  // A neighbour with a route to every bridge subnet: through the agent host.
  await run("ip", ["-n", NB, "route", "add", "default", "via", HOST_ADDR]);
  // No upstream resolver: names no network knows get SERVFAIL, nothing leaves the lab.
  agent = await startLabRuntime(netns, stateDir, cgroupParent, DEFAULT_SUBNET, true);
});

after(async () => {
  try {
    for (const c of await agent.call<Array<{ Id: string }>>("containers", "list", { all: true }).catch(() => []))
      await agent.call("containers", "remove", c.Id, { force: true }).catch(() => undefined);
    for (const n of await agent.call<Array<{ Name: string }>>("networks", "list").catch(() => []))
      if (!["bridge", "host", "none"].includes(n.Name)) await agent.call("networks", "remove", n.Name).catch(() => undefined);
    await agent.kill();
  } finally {
    await dropNeighbour();
    await lab.destroy();
    removeCgroupParent(cgroupParent);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

const ipOf = async (id: string, net: string) =>
  (await agent.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>("containers", "inspect", id)).NetworkSettings
    .Networks[net]!.IPAddress;

async function detached(
  name: string,
  net: string,
  cmd: string[],
  host: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<string> {
  const { Id } = await agent.call<{ Id: string }>(
    "containers",
    "create",
    { Image: "busybox", Cmd: cmd, HostConfig: { NetworkMode: net, ...host }, ...extra },
    name,
  );
  await agent.call("containers", "start", Id);
  return Id;
}

/** busybox httpd answering "<tag>-80" on port 80 and "<tag>-81" on port 81. */
const twoPorts = (tag: string) => [
  "sh",
  "-c",
  `mkdir /a /b && echo ${tag}-80 > /a/index.html && echo ${tag}-81 > /b/index.html && httpd -p 80 -h /a && exec httpd -f -p 81 -h /b`,
];

async function removeAll(ids: string[], networks: string[] = []): Promise<void> {
  for (const id of ids) await agent.call("containers", "remove", id, { force: true }).catch(() => undefined);
  for (const n of networks) await agent.call("networks", "remove", n).catch(() => undefined);
}

test("a neighbour routed to the bridges reaches published ports only; host, peers and replies keep working", {
  timeout: 180_000,
}, async () => {
  const ids: string[] = [];
  const outside = serveIn(NB, NB_ADDR, 8090, "neighbour\n");
  try {
    await agent.call("networks", "create", { Name: "usr", IPAM: { Config: [{ Subnet: "10.79.0.0/24" }] } });
    ids.push(await detached("svc", "bridge", twoPorts("svc"), { PortBindings: { "80/tcp": [{ HostPort: "8082" }] } }));
    ids.push(await detached("svc2", "usr", twoPorts("svc2"), { PortBindings: { "80/tcp": [{ HostPort: "8083" }] } }));
    const targets = [
      { tag: "svc", net: "bridge", ip: await ipOf(ids[0]!, "bridge"), published: 8082 },
      { tag: "svc2", net: "usr", ip: await ipOf(ids[1]!, "usr"), published: 8083 },
    ];
    for (const t of targets) {
      // The host itself reaches a container's unpublished port directly (not forwarded; Docker allows it).
      await until(async () => (await curl(netns, `http://${t.ip}:81/`)) !== "");
      assert.equal(await curl(netns, `http://${t.ip}:81/`), `${t.tag}-81\n`, "host → container, unpublished port");
      assert.equal(await curl(netns, `http://127.0.0.1:${t.published}/`), `${t.tag}-80\n`, "host loopback → published port");
      assert.equal(await curl(NB, `http://${HOST_ADDR}:${t.published}/`), `${t.tag}-80\n`, "neighbour → published port");
      assert.equal(await curl(NB, `http://${t.ip}:81/`), "", `neighbour → ${t.net} container, unpublished port: dropped`);
      assert.equal(
        await curl(NB, `http://${t.ip}:80/`),
        "",
        `neighbour → ${t.net} container's published port by its own address (no DNAT): dropped`,
      );
      // A peer on the same bridge reaches both ports.
      const peer = await agent.run({
        Cmd: ["sh", "-c", `wget -q -O - http://${t.ip}:81/ && wget -q -O - http://${t.ip}:80/`],
        HostConfig: { NetworkMode: t.net },
      });
      assert.deepEqual(peer, { code: 0, out: `${t.tag}-81\n${t.tag}-80\n` }, "same-bridge peer");
    }
    // Another network reaches a published port through the host, not the unpublished one.
    const across = await agent.run({
      Cmd: [
        "sh",
        "-c",
        `wget -q -O - http://${HOST_ADDR}:8082/; timeout 4 wget -q -O - http://${targets[0]!.ip}:81/ 2>/dev/null || echo blocked`,
      ],
      HostConfig: { NetworkMode: "usr" },
    });
    assert.equal(across.out, "svc-80\nblocked\n", "another network: published yes, unpublished no");
    // Containers reach out (masqueraded) and the replies come back.
    await until(async () => (await curl(NB, `http://${NB_ADDR}:8090/`)) !== "");
    for (const net of ["bridge", "usr"]) {
      const out = await agent.run({ Cmd: ["wget", "-q", "-O", "-", `http://${NB_ADDR}:8090/`], HostConfig: { NetworkMode: net } });
      assert.deepEqual(out, { code: 0, out: "neighbour\n" }, `container on ${net} → neighbour`);
    }
  } finally {
    killGroup(outside);
    await removeAll(ids, ["usr"]);
  }
});

test("containers and neighbours cannot reach the host's 127.0.0.1; a 127.0.0.1-published port works from the host only", {
  timeout: 180_000,
}, async () => {
  const ids: string[] = [];
  const secret = serveIn(netns, "127.0.0.1", 9123, "secret\n");
  try {
    await until(async () => (await curl(netns, "http://127.0.0.1:9123/")) !== "");
    assert.equal(await curl(netns, "http://127.0.0.1:9123/"), "secret\n", "the host's own loopback service is up");
    ids.push(
      await detached("lopub", "bridge", twoPorts("lopub"), { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8084" }] } }),
    );
    const lopubIp = await ipOf(ids[0]!, "bridge");
    await until(async () => (await curl(netns, `http://${lopubIp}:80/`)) !== "");
    assert.equal(await curl(netns, "http://127.0.0.1:8084/"), "lopub-80\n", "a 127.0.0.1-published port from the host");

    // A container that routes 127.0.0.0/8 to its gateway (what CAP_NET_ADMIN allows; privileged
    // here so it can also accept loopback-sourced replies): the bridge's route_localnet must not
    // let it into the host's loopback, neither to a host service nor to a 127.0.0.1-only port.
    const hijack = [
      "set -e",
      "sysctl -w net.ipv4.conf.eth0.route_localnet=1 >/dev/null",
      "ip rule add pref 10 to 127.0.0.0/8 lookup 100",
      "ip rule add pref 20 lookup local",
      "ip rule del pref 0",
      `ip route add 127.0.0.0/8 via ${DEFAULT_GW} dev eth0 table 100`,
      "ip route get 127.0.0.1 | grep -q eth0",
      "echo routed",
      "set +e",
      "timeout 4 wget -q -O - http://127.0.0.1:9123/ 2>/dev/null || echo service-blocked",
      "timeout 4 wget -q -O - http://127.0.0.1:8084/ 2>/dev/null || echo published-blocked",
      `timeout 4 wget -q -O - http://${DEFAULT_GW}:9123/ 2>/dev/null || echo gateway-blocked`,
      `timeout 4 wget -q -O - http://${DEFAULT_GW}:8084/ 2>/dev/null || echo gateway-published-blocked`,
    ].join("\n");
    const c = await agent.run({ Cmd: ["sh", "-c", hijack], HostConfig: { NetworkMode: "bridge", Privileged: true } });
    assert.equal(c.out, "routed\nservice-blocked\npublished-blocked\ngateway-blocked\ngateway-published-blocked\n", c.out);

    // The same from the neighbour, which routes 127.0.0.0/8 to the agent host.
    for (const args of [
      ["rule", "add", "pref", "10", "to", "127.0.0.0/8", "lookup", "100"],
      ["rule", "add", "pref", "20", "lookup", "local"],
      ["rule", "del", "pref", "0"],
      ["route", "add", "127.0.0.0/8", "via", HOST_ADDR, "dev", "eth0", "table", "100"],
    ])
      await run("ip", ["-n", NB, ...args]);
    assert.equal(
      (await inNs(NB, "sysctl", ["-w", "net.ipv4.conf.eth0.route_localnet=1"])).code,
      0,
      "the neighbour takes loopback-sourced replies",
    );
    assert.match((await inNs(NB, "ip", ["route", "get", "127.0.0.1"])).out, /via 192\.0\.2\.1/);
    assert.equal(await curl(NB, "http://127.0.0.1:9123/"), "", "neighbour → host loopback service");
    assert.equal(await curl(NB, "http://127.0.0.1:8084/"), "", "neighbour → 127.0.0.1-published port");
    assert.equal(await curl(NB, `http://${HOST_ADDR}:8084/`), "", "neighbour → 127.0.0.1-published port on the host's address");
    // ... and the host still reaches it, on loopback.
    assert.equal(await curl(netns, "http://127.0.0.1:8084/"), "lopub-80\n", "still from the host");
  } finally {
    killGroup(secret);
    // The neighbour's loopback routing goes back to normal.
    await run("ip", ["-n", NB, "rule", "add", "pref", "0", "lookup", "local"]).catch(() => undefined);
    await run("ip", ["-n", NB, "rule", "del", "pref", "10"]).catch(() => undefined);
    await run("ip", ["-n", NB, "rule", "del", "pref", "20"]).catch(() => undefined);
    await removeAll(ids);
  }
});

test("embedded DNS: answers its own subnet only; a running container connected to a second network resolves and reaches its names", {
  timeout: 180_000,
}, async () => {
  const ids: string[] = [];
  try {
    await agent.call("networks", "create", { Name: "dns-a", IPAM: { Config: [{ Subnet: "10.78.0.0/24" }] } });
    await agent.call("networks", "create", { Name: "dns-b", IPAM: { Config: [{ Subnet: "10.77.0.0/24" }] } });
    const serve = (text: string) => ["sh", "-c", `mkdir /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
    ids.push(await detached("alpha", "dns-a", serve("alpha")));
    ids.push(await detached("beta", "dns-b", serve("beta")));
    const alphaIp = await ipOf(ids[0]!, "dns-a");
    const betaIp = await ipOf(ids[1]!, "dns-b");

    // Its own network: answered (the container's resolv.conf names dns-a's gateway).
    const own = await agent.run({ Cmd: ["nslookup", "alpha"], HostConfig: { NetworkMode: "dns-a" } });
    assert.match(own.out, new RegExp(alphaIp.replace(/\./g, "\\.")), own.out);
    // Another network's container asking dns-a's DNS directly: no answer.
    const other = await agent.run({
      Cmd: ["sh", "-c", "nslookup alpha 10.78.0.1 >/dev/null 2>&1 && echo answered || echo unanswered"],
      HostConfig: { NetworkMode: "dns-b" },
    });
    assert.equal(other.out, "unanswered\n", "a container on dns-b gets nothing from dns-a's DNS");
    // The neighbour: no answer either; nor the host itself, which asks from its own (lab) address.
    assert.equal(await dnsFrom(NB, "10.78.0.1", "alpha"), "no reply", "neighbour → dns-a's DNS");
    assert.equal(await dnsFrom(netns, "10.78.0.1", "alpha"), "no reply", "the host, from outside the subnet");

    // connect: a running container on dns-a, joined to dns-b, resolves (and reaches) beta too, and still alpha.
    // Each fetch is bounded (busybox wget has no usable timeout of its own): one in flight when the
    // network is disconnected would otherwise wait minutes for a connection that can no longer be made.
    ids.push(
      await detached("left", "dns-a", [
        "sh",
        "-c",
        "while true; do a=$(timeout 2 wget -q -O - http://alpha/ 2>/dev/null || echo a-fail); " +
          "b=$(timeout 2 wget -q -O - http://beta/ 2>/dev/null || echo b-fail); echo $a $b; sleep 0.3; done",
      ]),
    );
    const last = async () => (await agent.logs(ids[2]!)).trim().split("\n").at(-1);
    const leftNs = `/proc/${(await agent.call<{ State: { Pid: number } }>("containers", "inspect", ids[2]!)).State.Pid}/ns/net`;
    await until(async () => (await last()) === "alpha b-fail");
    assert.equal(await last(), "alpha b-fail", "before connect: beta is another network's name");
    assert.equal(await dnsFrom(leftNs, "10.78.0.1", "beta"), "rcode 2", "not a local name: forwarded, and with no upstream, SERVFAIL");
    await agent.call("containers", "connect", "dns-b", ids[2]!);
    await until(async () => (await last()) === "alpha beta");
    assert.equal(await last(), "alpha beta", "after connect: both networks' names resolve and answer");
    // Asked from left's namespace (its dns-a address, as its resolv.conf does): beta's address on dns-b, the network they share.
    assert.equal(await dnsFrom(leftNs, "10.78.0.1", "beta"), `answer ${betaIp}`);
    // disconnect: beta's name goes with the shared network.
    await agent.call("containers", "disconnect", "dns-b", ids[2]!);
    await until(async () => (await last()) === "alpha b-fail");
    assert.equal(await last(), "alpha b-fail", "after disconnect: beta is no longer resolved");
  } finally {
    await removeAll(ids, ["dns-a", "dns-b"]);
  }
});
