// Figure: container logs relayed agent → control plane → a WebSocket client, beside
// `docker logs -f` through dockerd on the same container output.
// - Throughput: a container has written N lines (seq 1 N); the clock runs from opening the
//   follow until the client holds line N. Every line is checked: 0 lost, 0 repeated.
// - Latency, two ways, at 5,000 lines/s in bursts of 100:
//   - end to end: the bench writes each burst, every line stamped with the bench's clock, into a
//     FIFO that the container copies to its stdout (`cat`); a line's delay is its arrival at the
//     client minus that stamp. Both daemons carry the same bytes from the same write.
//   - from the log record's own timestamp (`--timestamps`). Not the same point on both sides:
//     conmon stamps a line as it reads the container's pipe, dockerd after containerd's shim has
//     copied it on into dockerd's FIFO, so this one leaves a process hop out of dockerd's figure.
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { spawn } from "node:child_process";
import { closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { StreamClient } from "@berth/cli/streams";
import { inviteOf, signUp, trpcClient } from "@berth/test-support/control-plane";
import { spawnAgent } from "@berth/test-support/agent";
import { waitFor } from "@berth/test-support/wait";
import { busyboxRuntime } from "@berth/test-support/busybox-runtime";
import { docker, ready, startDockerd, unmountUnder } from "./docker-api.ts";
import { median, percentile } from "./stats.ts";

export interface LogRelayResult {
  lines: number;
  rounds: number;
  berthLinesPerSecond: number;
  dockerdLinesPerSecond: number | null;
  berthLatencyP50Ms: number;
  berthLatencyP99Ms: number;
  dockerdLatencyP50Ms: number | null;
  dockerdLatencyP99Ms: number | null;
  /** The same docker CLI follow as dockerd's, against the agent's own Docker API socket (no control plane). */
  agentDockerLatencyP50Ms: number;
  agentDockerLatencyP99Ms: number;
  latencyLines: number;
  /** End to end: from the write into the container's stdout to arrival at the client. */
  endToEnd: { berth: Percentiles; agent: Percentiles; dockerd: Percentiles | null; lines: number };
  dockerdError?: string;
}

export interface Percentiles {
  p50: number;
  p99: number;
}

/** Nanosecond RFC 3339 time → ms since the epoch, with the sub-ms part kept. */
function timeMs(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$/.exec(time);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}${m[3]}`) + Number(`0${m[2] ?? ""}`) * 1000;
}

/**
 * Paced output for the latency figure: bursts of 100 numbered lines, 50 a second (5,000 lines/s),
 * after a second's pause in which the follower attaches to the running container.
 */
const PACED = (seconds: number) => `sleep 1; i=0; while [ $i -lt ${seconds * 50} ]; do seq 1 100; sleep 0.02; i=$((i+1)); done`;

export async function logRelayBench(opts: { lines: number; rounds: number; latencySeconds: number }): Promise<LogRelayResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-logs-"));
  let cp: ControlPlaneProcess | null = null;
  let agent: ReturnType<typeof spawnAgent> | null = null;
  let dockerd: ReturnType<typeof startDockerd> | null = null;
  try {
    // The control plane in a process of its own, as it runs; the client here is its only load.
    cp = await startControlPlaneProcess();
    const url = cp.url;
    const owner = await signUp(url, "bench-logs@example.com", "password-123", inviteOf(cp.setupLink));
    const trpc = trpcClient(url, owner.cookie);
    const { token } = await trpc.joinTokens.create.mutate({ maxUses: 1 });
    agent = spawnAgent({ url, token, stateDir: join(work, "agent"), name: "logbench" });
    const host = await waitFor(
      "agent linked",
      async () => (await trpc.hosts.list.query()).find((h) => h.name === "logbench" && h.connected),
      60_000,
    );
    const hostId = host.id;
    const headers = { cookie: owner.cookie, origin: url };

    // One busybox archive, loaded into the agent (through its Docker API socket) and into dockerd.
    const archive = join(work, "busybox.tar");
    {
      const { rt, stateDir } = await busyboxRuntime({ stateDir: join(work, "seed") });
      await pipeline(await rt.images.save(["busybox"]), createWriteStream(archive));
      await rt.containers.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
    await docker(join(work, "agent", "docker.sock"), ["load", "-i", archive]);
    let dockerdError: string | undefined;
    dockerd = startDockerd(work);
    try {
      await ready(dockerd);
      await docker(dockerd.socket, ["load", "-i", archive]);
    } catch (e) {
      dockerdError = (e as Error).message.split("\n")[0];
      await dockerd.stop();
      dockerd = null;
    }

    // Throughput: both containers have written every line before the clock starts.
    const n = opts.lines;
    const { Id } = await trpc.containers.run.mutate({
      hostId,
      name: "seq",
      config: { Image: "busybox", Cmd: ["sh", "-c", `seq 1 ${n}; sleep 3600`] },
    });
    await waitFor(
      "berth container wrote its lines",
      async () => (await trpc.containers.logs.query({ hostId, id: Id, tail: 1 }))[0]?.line === `${n}\n`,
      120_000,
      200,
    );
    let dockerId = "";
    if (dockerd) {
      dockerId = (
        await docker(dockerd.socket, ["run", "-d", "--network", "none", "busybox", "sh", "-c", `seq 1 ${n}; sleep 3600`])
      ).stdout.trim();
      await waitFor(
        "dockerd container wrote its lines",
        async () => (await docker(dockerd!.socket, ["logs", "--tail", "1", dockerId])).stdout === `${n}\n`,
        120_000,
        200,
      );
    }
    const berthRates: number[] = [];
    const dockerRates: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      berthRates.push(n / (await berthFollow(url, headers, hostId, Id, n)));
      if (dockerd) dockerRates.push(n / (await dockerFollow(dockerd.socket, dockerId, n)));
    }
    await trpc.containers.remove.mutate({ hostId, id: Id, force: true });
    if (dockerd) await docker(dockerd.socket, ["rm", "-f", dockerId]);

    // Latency: paced output, followed live from the start. Two rounds each, in turn and in
    // rotating order (berth, dockerd, dockerd, berth) after a pause, so neither daemon's figure
    // carries the other's clean-up of the large logs above, nor always runs first.
    await sleep(3000);
    const berthDelays: number[] = [];
    const agentDelays: number[] = [];
    const dockerDelays: number[] | null = dockerd ? [] : null;
    const berthRound = async () => berthDelays.push(...(await berthLatency(url, headers, hostId, trpc, opts.latencySeconds)));
    const agentRound = async () => agentDelays.push(...(await dockerLatency(join(work, "agent", "docker.sock"), opts.latencySeconds)));
    const dockerRound = async () => dockerDelays?.push(...(await dockerLatency(dockerd!.socket, opts.latencySeconds)));
    for (const round of [berthRound, agentRound, dockerRound, dockerRound, agentRound, berthRound]) await round();

    // The same, end to end from the write into the container's stdout.
    const e2e = { berth: [] as number[], agent: [] as number[], dockerd: dockerd ? ([] as number[]) : null };
    const agentSocket = join(work, "agent", "docker.sock");
    const berthE2e = async () => e2e.berth.push(...(await berthEndToEnd(url, headers, hostId, agentSocket, work, opts.latencySeconds)));
    const agentE2e = async () => e2e.agent.push(...(await dockerEndToEnd(agentSocket, work, opts.latencySeconds)));
    const dockerE2e = async () => e2e.dockerd?.push(...(await dockerEndToEnd(dockerd!.socket, work, opts.latencySeconds)));
    for (const round of [berthE2e, agentE2e, dockerE2e, dockerE2e, agentE2e, berthE2e]) await round();
    const pct = (xs: number[]): Percentiles => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
    return {
      lines: n,
      rounds: opts.rounds,
      berthLinesPerSecond: median(berthRates),
      dockerdLinesPerSecond: dockerRates.length ? median(dockerRates) : null,
      berthLatencyP50Ms: percentile(berthDelays, 50),
      berthLatencyP99Ms: percentile(berthDelays, 99),
      dockerdLatencyP50Ms: dockerDelays ? percentile(dockerDelays, 50) : null,
      dockerdLatencyP99Ms: dockerDelays ? percentile(dockerDelays, 99) : null,
      agentDockerLatencyP50Ms: percentile(agentDelays, 50),
      agentDockerLatencyP99Ms: percentile(agentDelays, 99),
      latencyLines: berthDelays.length,
      endToEnd: {
        berth: pct(e2e.berth),
        agent: pct(e2e.agent),
        dockerd: e2e.dockerd ? pct(e2e.dockerd) : null,
        lines: e2e.berth.length,
      },
      ...(dockerdError ? { dockerdError } : {}),
    };
  } finally {
    if (dockerd) {
      await docker(dockerd.socket, [
        "rm",
        "-f",
        ...(await docker(dockerd.socket, ["ps", "-aq"]).then(
          (r) => r.stdout.split("\n").filter(Boolean),
          () => [],
        )),
      ]).catch(() => undefined);
      await dockerd.stop();
    }
    await agent?.stop();
    await cp?.stop();
    await unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  }
}

/** Seconds from opening a follow until line n arrived; throws on any line lost or repeated. */
async function berthFollow(url: string, headers: Record<string, string>, hostId: string, id: string, n: number): Promise<number> {
  const t0 = performance.now();
  let expect = 1;
  const stream = new StreamClient({ url, kind: "logs", hostId, headers, params: { id }, window: 16 });
  for await (const d of stream) {
    for (const l of d.lines) {
      if (Number(l[3]) !== expect) throw new Error(`berth relay: expected line ${expect}, got ${l[3].trim()}`);
      expect++;
    }
    if (expect > n) break;
  }
  stream.close();
  return (performance.now() - t0) / 1000;
}

async function dockerFollow(socket: string, id: string, n: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn("docker", ["-H", `unix://${socket}`, "logs", "-f", id], { stdio: ["ignore", "pipe", "ignore"] });
  let expect = 1;
  for await (const line of createInterface({ input: child.stdout! })) {
    if (Number(line) !== expect) throw new Error(`docker logs -f: expected line ${expect}, got ${line}`);
    if (++expect > n) break;
  }
  const s = (performance.now() - t0) / 1000;
  child.kill();
  return s;
}

async function berthLatency(
  url: string,
  headers: Record<string, string>,
  hostId: string,
  trpc: ReturnType<typeof trpcClient>,
  seconds: number,
): Promise<number[]> {
  const { Id } = await trpc.containers.run.mutate({
    hostId,
    name: "paced",
    config: { Image: "busybox", Cmd: ["sh", "-c", PACED(seconds)] },
  });
  const stream = new StreamClient({ url, kind: "logs", hostId, headers, params: { id: Id }, window: 16 });
  await stream.opened;
  const delays: number[] = [];
  for await (const d of stream) {
    const now = Date.now();
    for (const l of d.lines) delays.push(now - timeMs(l[2]));
  }
  await trpc.containers.remove.mutate({ hostId, id: Id, force: true });
  return delays;
}

async function dockerLatency(socket: string, seconds: number): Promise<number[]> {
  const id = (await docker(socket, ["run", "-d", "--network", "none", "busybox", "sh", "-c", PACED(seconds)])).stdout.trim();
  // Follows a running container (a follow of one not yet started ends at once, as Docker's does).
  const child = spawn("docker", ["-H", `unix://${socket}`, "logs", "-f", "--timestamps", id], { stdio: ["ignore", "pipe", "ignore"] });
  const delays: number[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    const now = Date.now();
    delays.push(now - timeMs(line.slice(0, line.indexOf(" "))));
  }
  await docker(socket, ["rm", "-f", id]);
  return delays;
}

/** The bench's clock in ms, with the sub-ms part: stamps and arrivals are both read from it. */
const clockMs = () => performance.timeOrigin + performance.now();

let fifos = 0;

/**
 * A FIFO in a directory of its own, which a container mounts at /pace and copies to its stdout
 * (`cat /pace/in`). Opened read-write here, so opening never waits for the container.
 */
function paceFifo(work: string): { dir: string; fd: number } {
  const dir = join(work, `pace-${++fifos}`);
  mkdirSync(dir);
  execFileSync("mkfifo", [join(dir, "in")]);
  return { dir, fd: openSync(join(dir, "in"), "r+") };
}

/**
 * Once `attached`, writes `seconds` × 50 bursts of 100 lines, 20 ms apart on a fixed schedule;
 * every line is "<n> <the bench's clock at the write>". Closing ends the container's `cat`.
 */
async function writePaced(fd: number, seconds: number, attached: Promise<unknown>): Promise<void> {
  try {
    await attached;
    await sleep(1000);
    const start = performance.now();
    for (let b = 0; b < seconds * 50; b++) {
      const t = clockMs();
      let burst = "";
      for (let i = 0; i < 100; i++) burst += `${b * 100 + i} ${t}\n`;
      writeSync(fd, burst);
      await sleep(Math.max(0, start + (b + 1) * 20 - performance.now()));
    }
  } finally {
    closeSync(fd);
  }
}

const delayOf = (line: string, now: number) => now - Number(line.slice(line.indexOf(" ") + 1));

async function berthEndToEnd(
  url: string,
  headers: Record<string, string>,
  hostId: string,
  agentSocket: string,
  work: string,
  seconds: number,
): Promise<number[]> {
  const { dir, fd } = paceFifo(work);
  const id = (
    await docker(agentSocket, ["run", "-d", "--network", "none", "-v", `${dir}:/pace`, "busybox", "cat", "/pace/in"])
  ).stdout.trim();
  const stream = new StreamClient({ url, kind: "logs", hostId, headers, params: { id }, window: 16 });
  const writing = writePaced(fd, seconds, stream.opened);
  const delays: number[] = [];
  for await (const d of stream) {
    const now = clockMs();
    for (const l of d.lines) delays.push(delayOf(l[3], now));
  }
  await writing;
  await docker(agentSocket, ["rm", "-f", id]);
  return delays;
}

async function dockerEndToEnd(socket: string, work: string, seconds: number): Promise<number[]> {
  const { dir, fd } = paceFifo(work);
  const id = (await docker(socket, ["run", "-d", "--network", "none", "-v", `${dir}:/pace`, "busybox", "cat", "/pace/in"])).stdout.trim();
  const child = spawn("docker", ["-H", `unix://${socket}`, "logs", "-f", id], { stdio: ["ignore", "pipe", "ignore"] });
  const writing = writePaced(fd, seconds, Promise.resolve());
  const delays: number[] = [];
  for await (const line of createInterface({ input: child.stdout! })) delays.push(delayOf(line, clockMs()));
  await writing;
  await docker(socket, ["rm", "-f", id]);
  return delays;
}
