// The lab: "hosts" as network namespaces on one bridge, per ARCHITECTURE.md. The bridge lives in
// its own namespace (berth-lab); the root namespace joins it through one veth so the control
// plane is reachable on a lab address. Nothing here has a route off the lab subnet, and every
// namespace and link the lab makes is removed by destroy(), also after a failure.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run("ip", args);
  return stdout;
}

/** Candidate lab subnets (a /24 each); the first one no route on this machine overlaps is used. */
const CANDIDATES = ["10.231.7", "10.232.7", "172.29.231", "192.168.231"];

async function pickSubnet(): Promise<string> {
  const routes = await ip("-4", "route", "show", "table", "all");
  for (const c of CANDIDATES) {
    const [a, b] = c.split(".");
    // Conservative: skip a candidate if any route mentions its first two octets.
    if (!routes.includes(`${a}.${b}.`)) return c;
  }
  throw new Error("no free lab subnet");
}

export interface LabHost {
  name: string;
  netns: string;
  address: string;
  /** Runs a command inside the host's network namespace (nsenter, not `ip netns exec`, which remounts /sys). */
  spawn(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv }): ChildProcess;
}

export interface Lab {
  /** The root namespace's address on the lab bridge; the control plane listens here. */
  gateway: string;
  hosts: LabHost[];
  /** Cuts a host off the lab bridge (its veth's bridge end goes down), as a pulled cable would. */
  cut(host: LabHost): Promise<void>;
  /** Plugs a cut host back in. */
  restore(host: LabHost): Promise<void>;
  destroy(): Promise<void>;
}

const LAB_NS = "berth-lab";
const ROOT_IF = "berth-lab0";

async function cleanup(hostCount: number): Promise<void> {
  const existing = existsSync("/run/netns") ? (await ip("netns", "list")).split("\n").map((l) => l.split(" ")[0]) : [];
  for (let i = 1; i <= hostCount; i++) {
    const ns = `berth-h${i}`;
    if (!existing.includes(ns)) continue;
    // What an agent left running in the host (wireguard-go, which holds its tunnel device and so
    // the namespace) goes first: a namespace is only freed when nothing holds it.
    const pids = (await ip("netns", "pids", ns).catch(() => "")).split("\n").filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
    await ip("netns", "del", ns).catch(() => {});
  }
  if (existing.includes(LAB_NS)) await ip("netns", "del", LAB_NS).catch(() => {});
  await ip("link", "del", ROOT_IF).catch(() => {});
}

export async function createLab(hostCount: number): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (CI runs as root)");
  await cleanup(hostCount);
  const net = await pickSubnet();
  const gateway = `${net}.1`;
  const hosts: LabHost[] = [];
  const destroy = () => cleanup(hostCount);
  try {
    await ip("netns", "add", LAB_NS);
    await ip("-n", LAB_NS, "link", "set", "lo", "up");
    await ip("-n", LAB_NS, "link", "add", "br0", "type", "bridge");
    await ip("-n", LAB_NS, "link", "set", "br0", "up");

    await ip("link", "add", ROOT_IF, "type", "veth", "peer", "name", "up0", "netns", LAB_NS);
    await ip("-n", LAB_NS, "link", "set", "up0", "master", "br0", "up");
    await ip("addr", "add", `${gateway}/24`, "dev", ROOT_IF);
    await ip("link", "set", ROOT_IF, "up");

    for (let i = 1; i <= hostCount; i++) {
      const ns = `berth-h${i}`;
      const address = `${net}.${10 + i}`;
      await ip("netns", "add", ns);
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", LAB_NS, "link", "add", `h${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
      await ip("-n", LAB_NS, "link", "set", `h${i}`, "master", "br0", "up");
      await ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      hosts.push({
        name: `lab-h${i}`,
        netns: ns,
        address,
        spawn(cmd, args, opts = {}) {
          return spawn("nsenter", [`--net=/run/netns/${ns}`, "--", cmd, ...args], {
            stdio: ["ignore", "pipe", "pipe"],
            detached: true, // its own process group, so a test can SIGKILL the whole tree
            env: { ...process.env, ...opts.env },
          });
        },
      });
    }
    const bridgeEnd = (h: LabHost) => `h${hosts.indexOf(h) + 1}`;
    return {
      gateway,
      hosts,
      destroy,
      cut: async (h) => void (await ip("-n", LAB_NS, "link", "set", bridgeEnd(h), "down")),
      restore: async (h) => void (await ip("-n", LAB_NS, "link", "set", bridgeEnd(h), "up")),
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** SIGKILLs a spawned process and everything in its process group. */
export function killGroup(p: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (p.pid && p.exitCode === null) {
    try {
      process.kill(-p.pid, signal);
    } catch {
      // already gone
    }
  }
}
