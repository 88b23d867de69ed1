// Bridge networks in the lab: an agent in a lab host's network namespace (never the machine's),
// real bridges, veths and nftables. Containers on one network reach each other; across networks
// they are blocked; addresses are reused after removal and survive an agent restart; removing
// everything restores the agent's nftables table to its starting state.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createSocket, type Socket } from "node:dgram";
import * as dnsPacket from "dns-packet";
import { createLab, type Lab } from "@berth/test-support/lab";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { startLabRuntime, type LabRuntime } from "@berth/test-support/lab-runtime";

const run = promisify(execFile);
let lab: Lab;
let agent: LabRuntime;
const stateDir = mkdtempSync(join(tmpdir(), "berth-net-"));
const cgroupParent = `/berth-net-test-${process.pid}`;
let netns: string;
let upstream: Socket;
let upstreamAddr: string;

/** A resolver on the lab's root-side address, standing in for the host's: outside.test is 10.1.2.3. */
async function startUpstream(address: string): Promise<Socket> {
  const s = createSocket("udp4");
  s.on("message", (msg, r) => {
    const q = dnsPacket.decode(msg);
    const known = q.questions?.[0]?.name === "outside.test";
    const reply = dnsPacket.encode({
      id: q.id,
      type: "response",
      flags: known ? 0 : 3,
      questions: q.questions ?? [],
      answers: known ? [{ type: "A", name: "outside.test", ttl: 60, class: "IN", data: "10.1.2.3" }] : [],
    });
    s.send(reply, r.port, r.address);
  });
  await new Promise<void>((resolve) => s.bind(5300, address, () => resolve()));
  return s;
}

/** curl from inside a lab namespace: the body, or "" when the connection fails. */
async function curl(ns: string, url: string): Promise<string> {
  try {
    return (await run("nsenter", [`--net=/run/netns/${ns}`, "--", "curl", "-s", "--max-time", "3", url])).stdout;
  } catch {
    return "";
  }
}

async function rules(): Promise<string> {
  return (await run("nsenter", [`--net=/run/netns/${netns}`, "--", "nft", "list", "ruleset"])).stdout;
}

before(async () => {
  lab = await createLab(2);
  netns = lab.hosts[0]!.netns;
  upstream = await startUpstream(lab.gateway);
  upstreamAddr = `${lab.gateway}:5300`;
  agent = await startLabRuntime(netns, stateDir, cgroupParent, "10.88.0.0/24", true, upstreamAddr);
});

after(async () => {
  try {
    for (const c of await agent.call<Array<{ Id: string }>>("containers", "list", { all: true }).catch(() => []))
      await agent.call("containers", "remove", c.Id, { force: true }).catch(() => undefined);
    await agent.kill();
    upstream?.close();
  } finally {
    await lab.destroy();
    removeCgroupParent(cgroupParent);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

const ipOf = async (id: string, net: string) =>
  (await agent.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>("containers", "inspect", id)).NetworkSettings
    .Networks[net]!.IPAddress;

async function detached(name: string, net: string, cmd: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const { Id } = await agent.call<{ Id: string }>(
    "containers",
    "create",
    { Image: "busybox", Cmd: cmd, HostConfig: { NetworkMode: net }, ...extra },
    name,
  );
  await agent.call("containers", "start", Id);
  return Id;
}

test("one network: ping and HTTP between containers; across networks: blocked", { timeout: 120_000 }, async () => {
  const start = await rules();
  assert.match(start, /table ip berth/);
  await agent.call("networks", "create", { Name: "n1" });
  await agent.call("networks", "create", { Name: "n2", IPAM: { Config: [{ Subnet: "10.77.0.0/24" }] } });
  const web = await detached("web", "n1", ["sh", "-c", "mkdir /www && echo hello from web > /www/index.html && httpd -f -p 80 -h /www"], {
    NetworkingConfig: { EndpointsConfig: { n1: { Aliases: ["www"] } } },
  });
  const webIp = await ipOf(web, "n1");
  assert.match(webIp, /^\d+\.\d+\.\d+\.2$/, "the first address after the gateway");
  const ping = await agent.run({ Cmd: ["ping", "-c", "1", "-W", "2", webIp], HostConfig: { NetworkMode: "n1", CapAdd: ["NET_RAW"] } });
  assert.equal(ping.code, 0, ping.out);
  const http = await agent.run({ Cmd: ["wget", "-q", "-O", "-", `http://${webIp}/`], HostConfig: { NetworkMode: "n1" } });
  assert.deepEqual(http, { code: 0, out: "hello from web\n" });
  // The network's embedded DNS: names, aliases and short IDs of its containers; other names go upstream.
  const byName = await agent.run({
    Cmd: ["sh", "-c", `ping -c 1 -W 2 web && wget -q -O - http://www/ && wget -q -O - http://${web.slice(0, 12)}/`],
    HostConfig: { NetworkMode: "n1", CapAdd: ["NET_RAW"] },
  });
  assert.equal(byName.code, 0, byName.out);
  assert.match(byName.out, /hello from web\nhello from web\n$/);
  const outside = await agent.run({ Cmd: ["nslookup", "outside.test"], HostConfig: { NetworkMode: "n1" } });
  assert.match(outside.out, /10\.1\.2\.3/, outside.out);
  const otherNet = await agent.run({ Cmd: ["nslookup", "web"], HostConfig: { NetworkMode: "n2" } });
  assert.notEqual(otherNet.code, 0, "another network does not resolve web");
  const defaultBridge = await agent.run({ Cmd: ["cat", "/etc/resolv.conf"], HostConfig: { NetworkMode: "bridge" } });
  assert.doesNotMatch(defaultBridge.out, /10\.88\.0\.1/, "the default bridge has no embedded DNS, as in Docker");

  const blocked = await agent.run({ Cmd: ["ping", "-c", "1", "-W", "2", webIp], HostConfig: { NetworkMode: "n2", CapAdd: ["NET_RAW"] } });
  assert.notEqual(blocked.code, 0, "another network cannot reach it");
  // connect and disconnect on a running container: a probe on n2 reaches web only while also on n1.
  const probe = await detached(
    "probe",
    "n2",
    ["sh", "-c", `while true; do if ping -c 1 -W 1 ${webIp} >/dev/null 2>&1; then echo reach; else echo blocked; fi; sleep 0.2; done`],
    { HostConfig: { NetworkMode: "n2", CapAdd: ["NET_RAW"] } },
  );
  const lastWord = async () => (await agent.logs(probe)).trim().split("\n").at(-1);
  const until = async (what: string) => {
    for (let i = 0; i < 100 && (await lastWord()) !== what; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await lastWord(), what);
  };
  await until("blocked");
  await agent.call("containers", "connect", "n1", probe, { Aliases: ["prober"] });
  await until("reach");
  const probeNets = (
    await agent.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string; Aliases: string[] }> } }>(
      "containers",
      "inspect",
      probe,
    )
  ).NetworkSettings.Networks;
  assert.deepEqual(Object.keys(probeNets).sort(), ["n1", "n2"]);
  assert.ok(probeNets.n1!.Aliases.includes("prober"));
  await assert.rejects(agent.call("containers", "connect", "n1", probe), /already exists in network n1/);
  await agent.call("containers", "disconnect", "n1", probe);
  await until("blocked");
  await agent.call("containers", "remove", probe, { force: true });

  const n2 = await agent.call<{ IPAM: { Config: Array<{ Subnet: string; Gateway: string }> } }>("networks", "inspect", "n2");
  assert.deepEqual(n2.IPAM.Config, [{ Subnet: "10.77.0.0/24", Gateway: "10.77.0.1" }]);
  const n1 = await agent.call<{ Containers: Record<string, { Name: string; IPv4Address: string }> }>("networks", "inspect", "n1");
  assert.equal(n1.Containers[web]?.Name, "web");
  await assert.rejects(agent.call("networks", "remove", "n1"), /has active endpoints/);
  await assert.rejects(agent.call("networks", "create", { Name: "n1" }), { message: "network with name n1 already exists" });
  await assert.rejects(agent.call("networks", "remove", "bridge"), { message: "bridge is a pre-defined network and cannot be removed" });

  // A static address; then the address of a removed container is given out again.
  const fixed = await detached("fixed", "n2", ["sleep", "1000"], {
    NetworkingConfig: { EndpointsConfig: { n2: { IPAMConfig: { IPv4Address: "10.77.0.50" } } } },
  });
  assert.equal(await ipOf(fixed, "n2"), "10.77.0.50");
  await assert.rejects(
    detached("clash", "n2", ["true"], { NetworkingConfig: { EndpointsConfig: { n2: { IPAMConfig: { IPv4Address: "10.77.0.50" } } } } }),
    /Address already in use/,
  );
  await agent.call("containers", "remove", "clash", { force: true });
  await agent.call("containers", "remove", web, { force: true });
  const again = await detached("again", "n1", ["sleep", "1000"]);
  assert.equal(await ipOf(again, "n1"), webIp, "the freed address is reused");

  // IPAM survives an agent restart: the running containers keep their addresses, new ones get others.
  await agent.kill();
  agent = await startLabRuntime(netns, stateDir, cgroupParent, "10.88.0.0/24", false, upstreamAddr);
  const other = await detached("other", "n1", ["sleep", "1000"]);
  assert.notEqual(await ipOf(other, "n1"), webIp);
  const stillUp = await agent.run({ Cmd: ["ping", "-c", "1", "-W", "2", webIp], HostConfig: { NetworkMode: "n1", CapAdd: ["NET_RAW"] } });
  assert.equal(stillUp.code, 0, "the re-adopted container is still reachable");

  // ICC off: containers of the network cannot talk to each other, but reach their gateway.
  await agent.call("networks", "create", {
    Name: "quiet",
    Options: { "com.docker.network.bridge.enable_icc": "false" },
    IPAM: { Config: [{ Subnet: "10.66.0.0/24" }] },
  });
  const q1 = await detached("q1", "quiet", ["sleep", "1000"]);
  const q1Ip = await ipOf(q1, "quiet");
  const icc = await agent.run({
    Cmd: [
      "sh",
      "-c",
      `ping -c 1 -W 2 10.66.0.1 >/dev/null && echo gateway-ok; ping -c 1 -W 2 ${q1Ip} >/dev/null && echo peer-reached; true`,
    ],
    HostConfig: { NetworkMode: "quiet", CapAdd: ["NET_RAW"] },
  });
  assert.equal(icc.out, "gateway-ok\n");
  await agent.call("containers", "remove", q1, { force: true });
  await agent.call("networks", "remove", "quiet");

  // An internal network reaches its own members only: no route out, not even to the other lab host.
  await agent.call("networks", "create", { Name: "inner", Internal: true });
  const outer = lab.hosts[1]!.address;
  const outNormal = await agent.run({ Cmd: ["ping", "-c", "1", "-W", "2", outer], HostConfig: { NetworkMode: "n1", CapAdd: ["NET_RAW"] } });
  assert.equal(outNormal.code, 0, `a normal network reaches out: ${outNormal.out}`);
  const outInternal = await agent.run({
    Cmd: ["sh", "-c", `ip route; ping -c 1 -W 2 ${outer}`],
    HostConfig: { NetworkMode: "inner", CapAdd: ["NET_RAW"] },
  });
  assert.notEqual(outInternal.code, 0, "an internal network has no way out");
  assert.doesNotMatch(outInternal.out, /default/, "and no default route");
  await agent.call("networks", "remove", "inner");

  for (const id of [fixed, again, other]) await agent.call("containers", "remove", id, { force: true });
  await agent.call("networks", "remove", "n1");
  await agent.call("networks", "remove", "n2");
  assert.equal(await rules(), start, "the nftables ruleset is back to its starting state");
});

test("published ports: from the host (loopback and its address), from another host, hairpin; -P; UDP; a conflict is refused cleanly", {
  timeout: 120_000,
}, async () => {
  const start = await rules();
  const h1 = lab.hosts[0]!.address;
  const serve = (text: string) => ["sh", "-c", `mkdir /www && echo ${text} > /www/index.html && httpd -f -p 80 -h /www`];
  const web = await detached("pub", "bridge", serve("published"), {
    HostConfig: { NetworkMode: "bridge", PortBindings: { "80/tcp": [{ HostPort: "8081" }] } },
  });
  const insp = await agent.call<{ NetworkSettings: { Ports: Record<string, unknown> } }>("containers", "inspect", web);
  assert.deepEqual(insp.NetworkSettings.Ports, { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8081" }] });
  // httpd needs a moment to listen.
  for (let i = 0; i < 50 && (await curl(lab.hosts[1]!.netns, `http://${h1}:8081/`)) === ""; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await curl(lab.hosts[1]!.netns, `http://${h1}:8081/`), "published\n", "from another host");
  assert.equal(await curl(netns, `http://${h1}:8081/`), "published\n", "from the host, on its own address");
  assert.equal(await curl(netns, "http://127.0.0.1:8081/"), "published\n", "from the host, on loopback");
  const hairpin = await agent.run({ Cmd: ["wget", "-q", "-O", "-", `http://${h1}:8081/`], HostConfig: { NetworkMode: "bridge" } });
  assert.deepEqual(hairpin, { code: 0, out: "published\n" }, "from a container, through the host's address");

  // -P: every exposed port to a random port of Docker's ephemeral range.
  const all = await detached("pubs", "bridge", serve("random"), {
    ExposedPorts: { "80/tcp": {} },
    HostConfig: { NetworkMode: "bridge", PublishAllPorts: true },
  });
  const ports = (
    await agent.call<{ NetworkSettings: { Ports: Record<string, Array<{ HostPort: string }>> } }>("containers", "inspect", all)
  ).NetworkSettings.Ports;
  const random = Number(ports["80/tcp"]![0]!.HostPort);
  assert.ok(random >= 32768 && random <= 60999, `random port ${random}`);
  for (let i = 0; i < 50 && (await curl(lab.hosts[1]!.netns, `http://${h1}:${random}/`)) === ""; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await curl(lab.hosts[1]!.netns, `http://${h1}:${random}/`), "random\n");

  // UDP: busybox has no UDP server, so the host's python3 runs in the container (its /usr bound read-only).
  const echo =
    "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9999))\n" +
    "while True:\n d,a=s.recvfrom(2048)\n s.sendto(b'echo:'+d,a)";
  const udpServer = await detached("udp", "bridge", ["/usr/bin/python3", "-c", echo], {
    HostConfig: {
      NetworkMode: "bridge",
      Binds: ["/usr:/usr:ro", "/usr/lib:/lib:ro", "/usr/lib64:/lib64:ro"],
      PortBindings: { "9999/udp": [{ HostPort: "5353" }] },
    },
  });
  const ask =
    `import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\nfor i in range(20):\n try:\n` +
    `  s.sendto(b'ping',(sys.argv[1],5353)); print(s.recvfrom(100)[0].decode()); break\n except OSError: pass`;
  const udp = (ns: string, host: string) =>
    run("nsenter", [`--net=/run/netns/${ns}`, "--", "python3", "-c", ask, host]).then(
      (r) => r.stdout,
      () => "",
    );
  assert.equal(await udp(lab.hosts[1]!.netns, h1), "echo:ping\n", "UDP from another host");
  assert.equal(await udp(netns, "127.0.0.1"), "echo:ping\n", "UDP from the host itself");
  await agent.call("containers", "remove", udpServer, { force: true });

  // The same host port again: a clear error, the container stays created, and no rule is added.
  const before = await rules();
  await assert.rejects(
    detached("clash", "bridge", ["true"], { HostConfig: { NetworkMode: "bridge", PortBindings: { "80/tcp": [{ HostPort: "8081" }] } } }),
    /Bind for 0\.0\.0\.0:8081 failed: port is already allocated/,
  );
  assert.equal((await agent.call<{ State: { Status: string } }>("containers", "inspect", "clash")).State.Status, "created");
  assert.equal(await rules(), before);
  await agent.call("containers", "remove", "clash");

  for (const id of [web, all]) await agent.call("containers", "remove", id, { force: true });
  assert.equal(await curl(netns, "http://127.0.0.1:8081/"), "", "the port is closed with its container");
  assert.equal(await rules(), start, "no rule is left behind");
});

test("20 concurrent starts of a container on a user network: one address, one endpoint, one published port rule", {
  timeout: 120_000,
}, async () => {
  await agent.call("networks", "create", { Name: "racing", IPAM: { Config: [{ Subnet: "10.79.0.0/24" }] } });
  const { Id } = await agent.call<{ Id: string }>(
    "containers",
    "create",
    {
      Image: "busybox",
      Cmd: ["sleep", "1000"],
      HostConfig: { NetworkMode: "racing", PortBindings: { "80/tcp": [{ HostPort: "18080" }] } },
    },
    "racer",
  );
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => agent.call("containers", "start", Id)));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  const net = await agent.call<{ Containers: Record<string, { IPv4Address: string }> }>("networks", "inspect", "racing");
  assert.deepEqual(Object.keys(net.Containers), [Id], "one endpoint on the network");
  const ip = await ipOf(Id, "racing");
  assert.equal(net.Containers[Id]!.IPv4Address.split("/")[0], ip);
  const dnat = (await rules()).split("\n").filter((l) => l.includes("18080") && l.includes("dnat"));
  assert.equal(dnat.length, 1, `one DNAT rule for the published port:\n${dnat.join("\n")}`);
  await agent.call("containers", "remove", Id, { force: true });
  await agent.call("networks", "remove", "racing");
});
