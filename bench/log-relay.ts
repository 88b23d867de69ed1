// Figure: container logs relayed agent → control plane → a WebSocket client, beside
// `docker logs -f` through dockerd on the same container output.
// - Throughput: a container has written N lines (seq 1 N); the clock runs from opening the
//   follow until the client holds line N. Every line is checked: 0 lost, 0 repeated.
// - Latency: a container writes paced bursts; each line's delay is its arrival at the client
//   minus the timestamp its log record got when written (conmon's for Berth, dockerd's own with
//   --timestamps), so both sides are measured from the same point: the write into the log.
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
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
  dockerdError?: string;
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
