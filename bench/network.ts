// Figures: HTTP through a published port (kernel DNAT by the agent's nftables rules) vs straight to
// the container's IP, with wrk; and the embedded DNS's lookup latency from inside a container.
// Everything runs in the lab: the agent, its bridge and rules live in a lab host's network
// namespace, wrk runs there too, and the DNS client runs in the container's own namespace.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createLab, type Lab } from "@berth/test-support/lab";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { startLabRuntime, type LabRuntime } from "@berth/test-support/lab-runtime";
import { median, percentile as percentileOf } from "./stats.ts";

const run = promisify(execFile);

export interface WrkFigures {
  requestsPerSecond: number;
  p99Ms: number;
}

export interface NetworkBenchResult {
  rounds: number;
  direct: WrkFigures;
  published: WrkFigures;
  /** Throughput lost through the published port, as a fraction of the direct figure. */
  overhead: number;
  dns: { queries: number; nameP50Ms: number; nameP99Ms: number; forwardedP50Ms: number; forwardedP99Ms: number };
}

/** wrk's "Requests/sec" and the 99 % line of its --latency distribution. */
export function parseWrk(out: string): WrkFigures {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(out);
  if (!rps || !p99) throw new Error(`unexpected wrk output:\n${out}`);
  const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"];
  return { requestsPerSecond: Number(rps[1]), p99Ms: Number(p99[1]) * scale };
}

async function wrk(netns: string, url: string, seconds: number): Promise<WrkFigures> {
  const { stdout } = await run("nsenter", [`--net=/run/netns/${netns}`, "--", "wrk", "-t1", "-c16", `-d${seconds}s`, "--latency", url]);
  return parseWrk(stdout);
}

/** Runs dns-probe.ts in a container's network namespace: per-query latencies in ms. */
function probeDns(pid: number, server: string, name: string, count: number): Promise<number[]> {
  const probe = fileURLToPath(new URL("./support/dns-probe.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const p = spawn(
      "nsenter",
      [`--net=/proc/${pid}/ns/net`, "--", process.execPath, "--import", "tsx", probe, server, name, String(count)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.once("error", reject);
    p.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`the DNS probe exited with ${code}`))));
  });
}

export async function networkBench(opts: { rounds: number; seconds: number; dnsQueries: number }): Promise<NetworkBenchResult> {
  const stateDir = mkdtempSync(join(tmpdir(), "berth-bench-net-"));
  const cgroupParent = `/berth-bench-net-${process.pid}`;
  let lab: Lab | undefined;
  let agent: LabRuntime | undefined;
  try {
    lab = await createLab(1);
    const host = lab.hosts[0]!;
    // The embedded DNS forwards to a stand-in resolver in the lab (dns-probe.ts --serve), never the machine's.
    const upstream = host.spawn(process.execPath, [
      "--import",
      "tsx",
      fileURLToPath(new URL("./support/dns-probe.ts", import.meta.url)),
      "--serve",
      `${host.address}:5300`,
    ]);
    await new Promise((r) => upstream.stdout!.once("data", r));
    try {
      agent = await startLabRuntime(host.netns, stateDir, cgroupParent, "10.88.0.0/24", true, `${host.address}:5300`);
      // A keep-alive HTTP server (the host's node, bind-mounted read-only), so wrk measures the
      // network path rather than process start-up per connection as with busybox httpd.
      const server = "require('http').createServer((q, s) => s.end('ok\\n')).listen(80)";
      const binds = ["/usr:/usr:ro", "/usr/lib:/lib:ro", "/usr/lib64:/lib64:ro"];
      const { Id: web } = await agent.call<{ Id: string }>(
        "containers",
        "create",
        {
          Image: "busybox",
          Cmd: ["/usr/bin/node", "-e", server],
          HostConfig: { Binds: binds, PortBindings: { "80/tcp": [{ HostPort: "8081" }] } },
        },
        "bench-web",
      );
      await agent.call("containers", "start", web);
      const info = await agent.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>("containers", "inspect", web);
      const ip = info.NetworkSettings.Networks.bridge!.IPAddress;
      const direct = `http://${ip}:80/`;
      const published = `http://${host.address}:8081/`;
      for (let i = 0; i < 50; i++) {
        const ok = await run("nsenter", [`--net=/run/netns/${host.netns}`, "--", "curl", "-sf", "--max-time", "1", published]).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      // Warm-up of both paths (the server's JIT, conntrack, caches) before anything counts.
      await wrk(host.netns, direct, 3);
      await wrk(host.netns, published, 3);
      const d: WrkFigures[] = [];
      const p: WrkFigures[] = [];
      for (let r = 0; r < opts.rounds; r++) {
        // Alternate the order so drift on the machine falls on both sides alike.
        if (r % 2 === 0) {
          d.push(await wrk(host.netns, direct, opts.seconds));
          p.push(await wrk(host.netns, published, opts.seconds));
        } else {
          p.push(await wrk(host.netns, published, opts.seconds));
          d.push(await wrk(host.netns, direct, opts.seconds));
        }
      }
      const directFig = { requestsPerSecond: median(d.map((x) => x.requestsPerSecond)), p99Ms: median(d.map((x) => x.p99Ms)) };
      const publishedFig = { requestsPerSecond: median(p.map((x) => x.requestsPerSecond)), p99Ms: median(p.map((x) => x.p99Ms)) };

      // DNS: a container on a user network asks the network's embedded server for another
      // container's name (answered locally) and for an outside name (forwarded upstream).
      await agent.call("networks", "create", { Name: "bench-dns", IPAM: { Config: [{ Subnet: "10.87.0.0/24", Gateway: "10.87.0.1" }] } });
      const sleeper = async (name: string) => {
        const { Id } = await agent!.call<{ Id: string }>(
          "containers",
          "create",
          { Image: "busybox", Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: "bench-dns" } },
          name,
        );
        await agent!.call("containers", "start", Id);
        return Id;
      };
      await sleeper("bench-peer");
      const client = await sleeper("bench-client");
      const pid = (await agent.call<{ State: { Pid: number } }>("containers", "inspect", client)).State.Pid;
      await probeDns(pid, "10.87.0.1", "bench-peer", 50); // warm-up
      const names = await probeDns(pid, "10.87.0.1", "bench-peer", opts.dnsQueries);
      const forwarded = await probeDns(pid, "10.87.0.1", "outside.test", opts.dnsQueries);
      return {
        rounds: opts.rounds,
        direct: directFig,
        published: publishedFig,
        overhead: 1 - publishedFig.requestsPerSecond / directFig.requestsPerSecond,
        dns: {
          queries: opts.dnsQueries,
          nameP50Ms: median(names),
          nameP99Ms: percentileOf(names, 99),
          forwardedP50Ms: median(forwarded),
          forwardedP99Ms: percentileOf(forwarded, 99),
        },
      };
    } finally {
      if (agent) {
        for (const c of await agent.call<Array<{ Id: string }>>("containers", "list", { all: true }).catch(() => []))
          await agent.call("containers", "remove", c.Id, { force: true }).catch(() => undefined);
        await agent.call("networks", "remove", "bench-dns").catch(() => undefined);
        await agent.kill();
      }
      upstream.kill("SIGKILL");
    }
  } finally {
    await lab?.destroy();
    removeCgroupParent(cgroupParent);
    rmSync(stateDir, { recursive: true, force: true });
  }
}
