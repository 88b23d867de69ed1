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

test("IPv6: dual-stack addresses, v6 routes and ping/HTTP over the bridge, AAAA, v6 published ports, aux addresses, endpoint MAC", {
  timeout: 180_000,
}, async () => {
  const start = await rules();
  const [h1, h2] = [lab.hosts[0]!, lab.hosts[1]!];
  // The lab hosts get IPv6 addresses of their own (unique local, inside the lab only).
  await run("ip", ["-n", h1.netns, "addr", "add", "fd78:1ab::11/64", "dev", "eth0", "nodad"]);
  await run("ip", ["-n", h2.netns, "addr", "add", "fd78:1ab::12/64", "dev", "eth0", "nodad"]);
  const v6 = { Subnet: "fd77:91::/64", Gateway: "fd77:91::1", AuxiliaryAddresses: { r6: "fd77:91::2" } };
  await agent.call("networks", "create", {
    Name: "dual",
    EnableIPv6: true,
    IPAM: { Config: [{ Subnet: "10.91.0.0/24", AuxiliaryAddresses: { router: "10.91.0.2" } }, v6] },
  });
  const dual = await agent.call<{ EnableIPv6: boolean; IPAM: { Config: unknown[] } }>("networks", "inspect", "dual");
  assert.equal(dual.EnableIPv6, true);
  assert.deepEqual(dual.IPAM.Config, [{ Subnet: "10.91.0.0/24", Gateway: "10.91.0.1", AuxiliaryAddresses: { router: "10.91.0.2" } }, v6]);

  // A static v6 address, a MAC address and a link-local IP on the endpoint; a port published on both families.
  const web = await detached("web6", "dual", ["sh", "-c", "mkdir /www && echo hello v6 > /www/index.html && httpd -f -p 80 -h /www"], {
    HostConfig: { NetworkMode: "dual", PortBindings: { "80/tcp": [{ HostPort: "8086" }] } },
    NetworkingConfig: {
      EndpointsConfig: {
        dual: { IPAMConfig: { IPv6Address: "fd77:91::50", LinkLocalIPs: ["169.254.8.8"] }, MacAddress: "02:aa:bb:cc:dd:ee" },
      },
    },
  });
  type Settings = Record<
    string,
    { IPAddress: string; GlobalIPv6Address: string; GlobalIPv6PrefixLen: number; IPv6Gateway: string; MacAddress: string }
  >;
  const insp = await agent.call<{ NetworkSettings: { Networks: Settings; Ports: Record<string, unknown> } }>("containers", "inspect", web);
  const ep = insp.NetworkSettings.Networks.dual!;
  assert.equal(ep.IPAddress, "10.91.0.3", "the auxiliary address 10.91.0.2 is never handed out");
  assert.deepEqual([ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, ep.IPv6Gateway], ["fd77:91::50", 64, "fd77:91::1"]);
  assert.equal(ep.MacAddress, "02:aa:bb:cc:dd:ee");
  assert.deepEqual(insp.NetworkSettings.Ports, {
    "80/tcp": [
      { HostIp: "0.0.0.0", HostPort: "8086" },
      { HostIp: "::", HostPort: "8086" },
    ],
  });
  const members = (await agent.call<{ Containers: Record<string, { IPv6Address: string }> }>("networks", "inspect", "dual")).Containers;
  assert.equal(members[web]?.IPv6Address, "fd77:91::50/64");
  // The interface as the endpoint says: its MAC, both families' addresses and the link-local IP (seen in its namespace).
  const pid = (await agent.call<{ State: { Pid: number } }>("containers", "inspect", web)).State.Pid;
  const link = (await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-o", "addr", "show", "dev", "eth0"])).stdout;
  const mac = (await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-o", "link", "show", "dev", "eth0"])).stdout;
  assert.match(mac, /link\/ether 02:aa:bb:cc:dd:ee/);
  assert.match(link, /inet 10\.91\.0\.3\/24/);
  assert.match(link, /inet 169\.254\.8\.8\/16/);
  assert.match(link, /inet6 fd77:91::50\/64/);
  const peer = await agent.run({
    Cmd: [
      "sh",
      "-c",
      "ip -6 route show default; ip -6 -o addr show dev eth0 scope global; " +
        "ping -6 -c 1 -W 2 fd77:91::50 >/dev/null && echo ping-ok; wget -q -O - 'http://[fd77:91::50]/'",
    ],
    HostConfig: { NetworkMode: "dual", CapAdd: ["NET_RAW"] },
  });
  assert.equal(peer.code, 0, peer.out);
  assert.match(peer.out, /default via fd77:91::1 dev eth0/, "a v6 default route through the bridge's v6 gateway");
  assert.match(peer.out, /inet6 fd77:91::3\/64/, "a dynamic v6 address: the first after the gateway and the aux address");
  assert.match(peer.out, /ping-ok\nhello v6\n$/);

  // The embedded DNS: AAAA for names on an IPv6 network; for a name with IPv4 only, an empty answer (not NXDOMAIN).
  const aaaa = await agent.run({ Cmd: ["nslookup", "-type=aaaa", "web6"], HostConfig: { NetworkMode: "dual" } });
  assert.match(aaaa.out, /fd77:91::50/, aaaa.out);
  await agent.call("networks", "create", { Name: "only4", IPAM: { Config: [{ Subnet: "10.92.0.0/24" }] } });
  const plain = await detached("plain4", "only4", ["sleep", "1000"]);
  const noData = await agent.run({
    Cmd: ["sh", "-c", "nslookup -type=aaaa plain4; nslookup -type=aaaa nosuchname; ip -6 -o addr show scope global"],
    HostConfig: { NetworkMode: "only4" },
  });
  // busybox prints nothing for an empty answer, and "can't find" for NXDOMAIN (rcodes are checked in network-dns.test.ts).
  assert.doesNotMatch(noData.out, /find plain4/, noData.out);
  assert.match(noData.out, /can't find nosuchname: NXDOMAIN/, noData.out);
  assert.doesNotMatch(noData.out, /inet6/, "a network without IPv6 stays IPv4-only");
  const plainEp = (await agent.call<{ NetworkSettings: { Networks: Settings } }>("containers", "inspect", plain)).NetworkSettings.Networks
    .only4!;
  assert.equal(plainEp.GlobalIPv6Address, "");

  // Published on v6: from another host, from the host on its own v6 address, and on ::1 (relayed by the agent).
  for (let i = 0; i < 50 && (await curl(h2.netns, "http://[fd78:1ab::11]:8086/")) === ""; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await curl(h2.netns, "http://[fd78:1ab::11]:8086/"), "hello v6\n", "from another host over IPv6");
  assert.equal(await curl(h1.netns, "http://[fd78:1ab::11]:8086/"), "hello v6\n", "from the host, on its own v6 address");
  assert.equal(await curl(h1.netns, "http://[::1]:8086/"), "hello v6\n", "from the host, on ::1");
  assert.equal(await curl(h1.netns, "http://127.0.0.1:8086/"), "hello v6\n", "and still on IPv4");

  // Isolation holds for IPv6: another v6 network cannot reach the container.
  await agent.call("networks", "create", {
    Name: "dual2",
    EnableIPv6: true,
    IPAM: { Config: [{ Subnet: "fd77:92::/64" }] },
  });
  const blocked = await agent.run({
    Cmd: ["sh", "-c", "ping -6 -c 1 -W 2 fd77:91::50 && echo reached; ip -6 route show default"],
    HostConfig: { NetworkMode: "dual2", CapAdd: ["NET_RAW"] },
  });
  assert.doesNotMatch(blocked.out, /reached/, blocked.out);
  assert.match(blocked.out, /default via fd77:92::1/, "an IPv4 subnet was chosen, and v6's gateway is the subnet's first address");

  // Connect a running container with a static v6 address and a MAC address: it shows inside at once.
  await agent.call("containers", "connect", "dual2", plain, {
    IPAMConfig: { IPv6Address: "fd77:92::99" },
    MacAddress: "02:00:00:00:99:99",
  });
  const hot = await agent.call<{ NetworkSettings: { Networks: Settings } }>("containers", "inspect", plain);
  assert.equal(hot.NetworkSettings.Networks.dual2!.GlobalIPv6Address, "fd77:92::99");
  assert.equal(hot.NetworkSettings.Networks.dual2!.MacAddress, "02:00:00:00:99:99");
  const reach = await agent.run({
    Cmd: ["ping", "-6", "-c", "1", "-W", "2", "fd77:92::99"],
    HostConfig: { NetworkMode: "dual2", CapAdd: ["NET_RAW"] },
  });
  assert.equal(reach.code, 0, reach.out);
  await agent.call("containers", "disconnect", "dual2", plain);

  // Docker's answers to bad or odd input.
  await assert.rejects(agent.call("networks", "create", { Name: "nov6", EnableIPv6: true }), {
    message: "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
  });
  await assert.rejects(
    agent.call("networks", "create", {
      Name: "aux",
      IPAM: { Config: [{ Subnet: "10.93.0.0/24", AuxiliaryAddresses: { x: "10.94.0.5" } }] },
    }),
    { message: "auxiliary address: (x:10.94.0.5) must belong to the master pool: 10.93.0.0/24" },
  );
  await assert.rejects(agent.call("networks", "create", { Name: "default" }), {
    message: "operation is not permitted on predefined default network ",
  });
  // A v6 subnet without EnableIPv6: accepted and shown, as dockerd does, but no container gets a v6 address from it.
  await agent.call("networks", "create", { Name: "test 01", IPAM: { Config: [{ Subnet: "fd77:95::/64" }] } });
  const spaced = await agent.call<{ Name: string; EnableIPv6: boolean; IPAM: { Config: Array<{ Subnet: string }> } }>(
    "networks",
    "inspect",
    "test 01",
  );
  assert.equal(spaced.Name, "test 01");
  assert.equal(spaced.EnableIPv6, false);
  assert.deepEqual(spaced.IPAM.Config.map((c) => c.Subnet).slice(1), ["fd77:95::/64"]);
  // An IPv6 address on it is accepted and kept in IPAMConfig, as dockerd does (the subnet is configured), but not given.
  await detached("nov6addr", "test 01", ["sleep", "30"], {
    NetworkingConfig: { EndpointsConfig: { "test 01": { IPAMConfig: { IPv6Address: "fd77:95::5" } } } },
  });
  const kept = await agent.call<{
    NetworkSettings: { Networks: Record<string, { IPAMConfig: { IPv6Address?: string } | null; GlobalIPv6Address: string }> };
  }>("containers", "inspect", "nov6addr");
  assert.equal(kept.NetworkSettings.Networks["test 01"]!.IPAMConfig?.IPv6Address, "fd77:95::5");
  assert.equal(kept.NetworkSettings.Networks["test 01"]!.GlobalIPv6Address, "");
  await agent.call("containers", "remove", "nov6addr", { force: true });
  // Without any IPv6 subnet configured, dockerd refuses a static IPv6 address.
  await agent.call("networks", "create", { Name: "v4only" });
  await assert.rejects(
    detached("nov6subnet", "v4only", ["true"], {
      NetworkingConfig: { EndpointsConfig: { v4only: { IPAMConfig: { IPv6Address: "fd77:96::5" } } } },
    }),
    /user specified IP address is supported only when connecting to networks with user configured subnets/,
  );
  await agent.call("containers", "remove", "nov6subnet", { force: true }).catch(() => undefined);
  await agent.call("networks", "remove", "v4only");
  await agent.call("networks", "remove", "test 01");

  for (const id of [web, plain]) await agent.call("containers", "remove", id, { force: true });
  assert.equal(await curl(h1.netns, "http://[::1]:8086/"), "", "the port is closed with its container");
  for (const n of ["dual", "dual2", "only4"]) await agent.call("networks", "remove", n);
  assert.equal(await rules(), start, "the ip6 table is gone with the last IPv6 network");
});
