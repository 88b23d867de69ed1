// Overlay networks on the lab's three hosts (network namespaces, real agents, runc and nftables):
// - throughput: TCP between containers on two hosts over an overlay network (iperf3 in the
//   containers' namespaces), against the same between the hosts themselves (the underlay);
// - the VIP: requests/s and p99 through the VIP of a one-task service on another host against
//   straight to that task (wrk from a container on the first host);
// - task death: from killing a task's container to its address being gone from every host's
//   backend set (each host's nftables, polled).
// Traffic stays in the lab: every address is a lab host's or an overlay address inside it.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Agent, request, setGlobalDispatcher } from "undici";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { parseWrk, type WrkFigures } from "./network.ts";
import { median, percentile } from "./stats.ts";

const run = promisify(execFile);

export interface OverlayBenchResult {
  rounds: number;
  underlayGbps: number;
  overlayGbps: number;
  /** overlay / underlay. */
  throughputRatio: number;
  /** An encrypted overlay network (VXLAN over the WireGuard mesh). */
  encryptedGbps: number;
  /** Which WireGuard carried it: the kernel's or wireguard-go. */
  wireguard: "kernel" | "wireguard-go";
  direct: WrkFigures;
  vip: WrkFigures;
  /** Requests/s lost through the VIP, as a fraction of the direct figure. */
  vipOverhead: number;
  deaths: number;
  removalP50Ms: number;
  removalP99Ms: number;
  /** The same, from the agent's own record of the death (its `die` event) rather than the kill request. */
  fromDieP50Ms: number;
  fromDieP99Ms: number;
}

/** When the agent saw the container die: its `die` event's time (ms since the epoch), from its Docker API socket. */
async function dieTime(socketPath: string, containerId: string, sinceMs: number): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ type: ["container"], event: ["die"], container: [containerId] }));
  const until = Math.ceil(Date.now() / 1000) + 1;
  const res = await request(`http://agent/events?since=${Math.floor(sinceMs / 1000)}&until=${until}&filters=${filters}`, {
    dispatcher: new Agent({ connect: { socketPath } }),
  });
  const lines = (await res.body.text()).trim().split("\n").filter(Boolean);
  const die = lines.map((l) => JSON.parse(l) as { timeNano: number }).at(-1);
  if (!die) throw new Error(`no die event for ${containerId}`);
  return die.timeNano / 1e6;
}

/** iperf3 from one network namespace to a server in another: received Gbit/s. */
async function iperf(serverNs: string, clientNs: string, address: string, seconds: number): Promise<number> {
  const server = spawn("nsenter", [`--net=${serverNs}`, "--", "iperf3", "-s", "-1", "-p", "5201"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const { stdout } = await run(
      "nsenter",
      [`--net=${clientNs}`, "--", "iperf3", "-c", address, "-p", "5201", "-t", String(seconds), "-J"],
      {
        maxBuffer: 16 << 20,
      },
    );
    const bps = (JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    return bps / 1e9;
  } finally {
    server.kill("SIGKILL");
  }
}

async function wrk(netns: string, url: string, seconds: number): Promise<WrkFigures> {
  const { stdout } = await run("nsenter", [`--net=${netns}`, "--", "wrk", "-t1", "-c16", `-d${seconds}s`, "--latency", url]);
  return parseWrk(stdout);
}

/** Whether a host's nftables still balance to `ip` (a DNAT target of some VIP chain). */
async function balancesTo(netns: string, ip: string): Promise<boolean> {
  const { stdout } = await run("nsenter", [`--net=/run/netns/${netns}`, "--", "nft", "list", "table", "ip", "berth"]);
  return stdout.split("\n").some((l) => l.includes("dnat") && new RegExp(`[\\s:]${ip.replace(/\./g, "\\.")}(?=[\\s,}]|$)`).test(l));
}

export async function overlayBench(opts: { rounds: number; seconds: number; deaths: number }): Promise<OverlayBenchResult> {
  const tmp = mkdtempSync(join(tmpdir(), "berth-bench-overlay-"));
  let lab: Lab | null = null;
  let cp: ControlPlaneProcess | null = null;
  let mirror: TestRegistry | null = null;
  const agents: TestAgent[] = [];
  try {
    lab = await createLab(3);
    cp = await startControlPlaneProcess({ host: lab.gateway });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(cp.caFile!) } }));
    mirror = await startRegistry({ host: lab.gateway });
    await seedBusybox(mirror, tmp);
    const owner = await signUp(cp.url, "bench-overlay@example.com", "bench-password", inviteOf(cp.setupLink));
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
    for (const h of lab.hosts)
      agents.push(
        spawnAgent({ url: cp.url, token, stateDir: join(tmp, h.name), name: h.name, netns: h.netns, registryMirror: mirror.url }),
      );
    const hosts = await waitFor(
      "three hosts linked",
      async () => {
        const list = (await owner.trpc.hosts.list.query()).filter((h) => h.connected);
        return list.length === 3 ? list : null;
      },
      60_000,
      250,
    );
    const hostId = (name: string) => hosts.find((h) => h.name === name)!.id;
    const net = await owner.trpc.overlays.create.mutate({ teamId, name: "bench", attachable: true });
    await owner.trpc.overlays.create.mutate({ teamId, name: "bench-sec", attachable: true, encrypted: true });

    /** A container idling on an overlay network on a lab host: its address there and its namespace. */
    const idleOn = async (host: string, name: string, network = "bench") => {
      await owner.trpc.images.pull.mutate({ hostId: hostId(host), reference: "busybox" });
      const c = await owner.trpc.containers.run.mutate({
        hostId: hostId(host),
        name,
        config: { Image: "busybox", Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: network } },
      });
      const inspect = await owner.trpc.containers.inspect.query({ hostId: hostId(host), id: c.Id });
      const ip = (inspect.NetworkSettings as { Networks: Record<string, { IPAddress: string }> }).Networks[network]!.IPAddress;
      return { ip, netns: `/proc/${inspect.State.Pid}/ns/net` };
    };
    const c1 = await idleOn("lab-h1", "c1");
    const c2 = await idleOn("lab-h2", "c2");
    const s1 = await idleOn("lab-h1", "s1", "bench-sec");
    const s2 = await idleOn("lab-h2", "s2", "bench-sec");
    // The tunnel is a kernel WireGuard device where the module exists, else wireguard-go's TUN device.
    const { stdout: links } = await run("ip", ["-n", lab.hosts[0]!.netns, "-d", "-j", "link", "show"]);
    const tunnel = (JSON.parse(links) as { ifname: string; linkinfo?: { info_kind?: string } }[]).find((l) => l.ifname.startsWith("bwg"));
    const wireguard = tunnel?.linkinfo?.info_kind === "wireguard" ? ("kernel" as const) : ("wireguard-go" as const);

    // Throughput: the hosts themselves (the underlay), then their containers over the overlay.
    const underlay: number[] = [];
    const overlay: number[] = [];
    const encrypted: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      underlay.push(
        await iperf(`/run/netns/${lab.hosts[1]!.netns}`, `/run/netns/${lab.hosts[0]!.netns}`, lab.hosts[1]!.address, opts.seconds),
      );
      overlay.push(await iperf(c2.netns, c1.netns, c2.ip, opts.seconds));
      encrypted.push(await iperf(s2.netns, s1.netns, s2.ip, opts.seconds));
    }

    // The VIP: three tasks serving a small file, one per host.
    const svc = await owner.trpc.services.create.mutate({
      teamId,
      spec: {
        name: "web",
        task: {
          image: "busybox",
          args: ["sh", "-c", "mkdir -p /www && hostname > /www/i && exec httpd -f -p 80 -h /www"],
          networks: [{ target: "bench" }],
          // A replacement only after 3 s: the lowest free address (the dead task's) is not taken again while the
          // removal is timed, so "its address is out of every set" means the dead task is.
          restartPolicy: { condition: "any", delayMs: 3000 },
          stopGracePeriodMs: 500,
        },
        mode: { kind: "replicated", replicas: 3 },
      },
    });
    const servingTasks = async () => {
      const eps = (await owner.trpc.overlays.get.query({ id: net.id })).endpointList;
      const tasks = (await owner.trpc.services.tasks.query({ id: svc.id })).filter(
        (t) => t.desiredState === "running" && t.state === "running",
      );
      return tasks.flatMap((t) => {
        const e = eps.find((x) => x.containerId === t.containerId && x.serving);
        return e && t.hostId && t.containerId ? [{ hostId: t.hostId, host: t.host?.name ?? "", containerId: t.containerId, ip: e.ip }] : [];
      });
    };
    const three = async () =>
      waitFor("3 tasks serving", async () => ((await servingTasks()).length === 3 ? servingTasks() : null), 90_000, 100);
    let tasks = await three();
    // Every host programmed the VIP before it is measured.
    for (const h of lab.hosts) await waitFor(`${h.name} balances`, async () => balancesTo(h.netns, tasks[0]!.ip), 30_000, 50);
    // The VIP's cost alone: a service of one task on h2, through its VIP and straight to the task.
    const one = await owner.trpc.services.create.mutate({
      teamId,
      spec: {
        name: "one",
        task: {
          image: "busybox",
          args: ["sh", "-c", "mkdir -p /www && hostname > /www/i && exec httpd -f -p 80 -h /www"],
          networks: [{ target: "bench" }],
          placement: { constraints: ["node.hostname==lab-h2"] },
        },
        mode: { kind: "replicated", replicas: 1 },
      },
    });
    const oneTask = await waitFor(
      "the one task serving",
      async () => {
        const eps = (await owner.trpc.overlays.get.query({ id: net.id })).endpointList;
        const t = (await owner.trpc.services.tasks.query({ id: one.id })).find((x) => x.state === "running");
        return t ? (eps.find((e) => e.containerId === t.containerId && e.serving) ?? null) : null;
      },
      90_000,
      100,
    );
    const vipIp = (await owner.trpc.overlays.get.query({ id: net.id })).vips.find((v) => v.service === "one")!.ip;
    for (const h of lab.hosts.slice(0, 1))
      await waitFor(`${h.name} balances to one`, async () => balancesTo(h.netns, oneTask.ip), 30_000, 50);
    const directRuns: WrkFigures[] = [];
    const vipRuns: WrkFigures[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      directRuns.push(await wrk(c1.netns, `http://${oneTask.ip}/i`, opts.seconds));
      // wrk runs in the container's network namespace but reads the host's resolv.conf: the VIP by address.
      vipRuns.push(await wrk(c1.netns, `http://${vipIp}/i`, opts.seconds));
    }
    await owner.trpc.services.remove.mutate({ id: one.id });

    // Task death → gone from every host's backend set.
    const removals: number[] = [];
    const fromDie: number[] = [];
    for (let d = 0; d < opts.deaths; d++) {
      const victim = tasks[d % tasks.length]!;
      const t0 = performance.now();
      const wall0 = Date.now();
      await owner.trpc.containers.kill.mutate({ hostId: victim.hostId, id: victim.containerId });
      await waitFor(
        "the dead task out of every host's set",
        async () => {
          for (const h of lab!.hosts) if (await balancesTo(h.netns, victim.ip)) return false;
          return true;
        },
        30_000,
        5,
      );
      removals.push(performance.now() - t0);
      const socket = join(tmp, victim.host, "docker.sock");
      fromDie.push(Date.now() - (await dieTime(socket, victim.containerId, wall0)));
      tasks = await three();
    }
    await owner.trpc.services.remove.mutate({ id: svc.id });

    const direct = { requestsPerSecond: median(directRuns.map((x) => x.requestsPerSecond)), p99Ms: median(directRuns.map((x) => x.p99Ms)) };
    const vip = { requestsPerSecond: median(vipRuns.map((x) => x.requestsPerSecond)), p99Ms: median(vipRuns.map((x) => x.p99Ms)) };
    return {
      rounds: opts.rounds,
      underlayGbps: median(underlay),
      overlayGbps: median(overlay),
      throughputRatio: median(overlay) / median(underlay),
      encryptedGbps: median(encrypted),
      wireguard,
      direct,
      vip,
      vipOverhead: 1 - vip.requestsPerSecond / direct.requestsPerSecond,
      deaths: removals.length,
      removalP50Ms: percentile(removals, 50),
      removalP99Ms: percentile(removals, 99),
      fromDieP50Ms: percentile(fromDie, 50),
      fromDieP99Ms: percentile(fromDie, 99),
    };
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await cp?.stop();
    await mirror?.stop();
    await lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}
