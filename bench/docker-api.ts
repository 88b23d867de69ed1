// Figures through the Docker API, one docker CLI for all three daemons in the same run:
// `docker run --rm busybox true` through Berth's socket, dockerd's (Debian docker.io, started
// here with its own data root and socket) and podman's Docker-compatible service; then
// `docker ps` with N running containers and `docker stats --no-stream` over 100 of them.
// Containers use --network none everywhere: no daemon touches the machine's network.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createRuntime } from "../apps/agent/src/runtime.ts";
import { busyboxRuntime } from "@berth/test-support/busybox-runtime";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { agentBundlePath } from "../scripts/build.ts";
import { median } from "./stats.ts";
import { writePodmanConf } from "./support/podman-conf.ts";

const run = promisify(execFile);

export interface DaemonFigures {
  runMs: number | null;
  psMs: number | null;
  statsMs: number | null;
  error?: string;
}

export interface DockerApiBenchResult {
  rounds: number;
  containers: number;
  berth: DaemonFigures;
  dockerd: DaemonFigures;
  podman: DaemonFigures;
}

export interface Daemon {
  name: "berth" | "dockerd" | "podman";
  socket: string;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export const docker = (socket: string, args: string[]) =>
  run("docker", ["-H", `unix://${socket}`, ...args], { maxBuffer: 64 << 20, env: { ...process.env, DOCKER_CLI_HINTS: "false" } });

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function start(name: Daemon["name"], socket: string, cmd: string, args: string[], env: Record<string, string> = {}): Daemon {
  let out = "";
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => (out = (out + d).slice(-20_000)));
  proc.stderr!.on("data", (d: Buffer) => (out = (out + d).slice(-20_000)));
  return {
    name,
    socket,
    proc,
    log: () => out,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** dockerd as ARCHITECTURE.md says: cgroupfs, its own data root and socket; no bridge or iptables changes on this machine. */
export function startDockerd(work: string): Daemon {
  return start("dockerd", join(work, "docker.sock"), "dockerd", [
    "--exec-opt",
    "native.cgroupdriver=cgroupfs",
    "--data-root",
    join(work, "docker"),
    "--exec-root",
    join(work, "docker-exec"),
    "--pidfile",
    join(work, "docker.pid"),
    "-H",
    `unix://${join(work, "docker.sock")}`,
    "--bridge",
    "none",
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    "--ip-masq=false",
    "--default-ulimit",
    "nofile=20000:20000",
  ]);
}

export async function ready(d: Daemon): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (d.proc.exitCode !== null) throw new Error(`${d.name} exited (${d.proc.exitCode}): ${d.log().slice(-2000)}`);
    if (
      existsSync(d.socket) &&
      (await docker(d.socket, ["version"]).then(
        () => true,
        () => false,
      ))
    )
      return;
    if (Date.now() > deadline) throw new Error(`${d.name} did not answer within 60 s: ${d.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function withConcurrency<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Berth's agent as it ships (the bundle), standalone on a socket in `work`, without bridge networking. */
export function startBerth(work: string, cgroupParent: string): Daemon {
  return start(
    "berth",
    join(work, "berth.sock"),
    process.execPath,
    [agentBundlePath, "run", "--state-dir", join(work, "berth"), "--docker-socket", join(work, "berth.sock")],
    { BERTH_NETWORKING: "0", BERTH_CGROUP_PARENT: cgroupParent, LOG_LEVEL: "warn" },
  );
}

/** What startBerth's agent left running (containers outlive it), and its cgroup parent. */
export async function removeBerthContainers(work: string, cgroupParent: string): Promise<void> {
  const rt = createRuntime(join(work, "berth"), { cgroupParent });
  await rt.containers.init().catch(() => undefined);
  for (const c of rt.containers.store.all()) await rt.containers.remove(c.id, { force: true }).catch(() => undefined);
  await rt.containers.close();
  removeCgroupParent(cgroupParent);
}

/** busybox as a docker-archive in `work`, for `docker load` into each daemon. */
export async function busyboxArchive(work: string): Promise<string> {
  const archive = join(work, "busybox.tar");
  const { rt, stateDir } = await busyboxRuntime({ stateDir: join(work, "seed") });
  await pipeline(await rt.images.save(["busybox"]), createWriteStream(archive));
  await rt.containers.close();
  rmSync(stateDir, { recursive: true, force: true });
  return archive;
}

export async function dockerApiBench(opts: { rounds: number; containers: number }): Promise<DockerApiBenchResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-api-"));
  const cgroupParent = `/berth-bench-api-${process.pid}`;
  const daemons: Daemon[] = [];
  const errors: Partial<Record<Daemon["name"], string>> = {};
  try {
    // One busybox archive, loaded into each daemon through the same CLI.
    const archive = await busyboxArchive(work);

    daemons.push(startBerth(work, cgroupParent));
    daemons.push(startDockerd(work));
    const podmanDir = join(work, "podman");
    mkdirSync(podmanDir, { recursive: true });
    const conf = writePodmanConf(podmanDir);
    daemons.push(
      start(
        "podman",
        join(work, "podman.sock"),
        "podman",
        [
          "--root",
          join(podmanDir, "root"),
          "--runroot",
          join(podmanDir, "run"),
          "--storage-driver",
          "overlay",
          "system",
          "service",
          "--time=0",
          `unix://${join(work, "podman.sock")}`,
        ],
        { CONTAINERS_CONF: conf },
      ),
    );
    const live: Daemon[] = [];
    for (const d of daemons) {
      try {
        await ready(d);
        await docker(d.socket, ["load", "-i", archive]);
        live.push(d);
      } catch (e) {
        errors[d.name] = (e as Error).message.split("\n")[0]!;
      }
    }

    // run --rm: two warm-up runs each, then rounds in a rotating order, each after a short pause.
    const runTimes = new Map<string, number[]>(live.map((d) => [d.name, []]));
    const runOnce = (d: Daemon) => docker(d.socket, ["run", "--rm", "--network", "none", "busybox", "true"]);
    for (const d of live) for (let i = 0; i < 2; i++) await runOnce(d);
    for (let r = 0; r < opts.rounds; r++) {
      const order = [...live.slice(r % live.length), ...live.slice(0, r % live.length)];
      for (const d of order) {
        // A pause first, so one daemon's clean-up after its run does not land on the next one's timing.
        await new Promise((r) => setTimeout(r, 300));
        runTimes.get(d.name)!.push(await timed(() => runOnce(d)));
      }
    }

    // ps and stats with many containers, one daemon at a time.
    const psTimes = new Map<string, number>();
    const statsTimes = new Map<string, number>();
    for (const d of live) {
      const ids: string[] = [];
      await withConcurrency(
        Array.from({ length: opts.containers }, (_, i) => i),
        4,
        async () => {
          const { stdout } = await docker(d.socket, ["run", "-d", "--network", "none", "busybox", "sleep", "3600"]);
          ids.push(stdout.trim());
        },
      );
      const ps: number[] = [];
      for (let i = 0; i < 10; i++) ps.push(await timed(() => docker(d.socket, ["ps"])));
      psTimes.set(d.name, median(ps));
      const st: number[] = [];
      for (let i = 0; i < 5; i++) st.push(await timed(() => docker(d.socket, ["stats", "--no-stream", ...ids.slice(0, 100)])));
      statsTimes.set(d.name, median(st));
      for (let i = 0; i < ids.length; i += 50) await docker(d.socket, ["rm", "-f", ...ids.slice(i, i + 50)]).catch(() => undefined);
    }

    const figures = (name: Daemon["name"]): DaemonFigures => {
      const runs = runTimes.get(name);
      return {
        runMs: runs?.length ? median(runs) : null,
        psMs: psTimes.get(name) ?? null,
        statsMs: statsTimes.get(name) ?? null,
        ...(errors[name] ? { error: errors[name] } : {}),
      };
    };
    return {
      rounds: opts.rounds,
      containers: opts.containers,
      berth: figures("berth"),
      dockerd: figures("dockerd"),
      podman: figures("podman"),
    };
  } finally {
    for (const d of daemons) {
      if (d.name === "podman") await docker(d.socket, ["rm", "-f", "-a"]).catch(() => undefined);
      await d.stop();
    }
    // Berth's containers outlive its agent by design; dockerd's and podman's went with rm -f.
    await removeBerthContainers(work, cgroupParent);
    await run(
      "podman",
      [
        "--root",
        join(work, "podman", "root"),
        "--runroot",
        join(work, "podman", "run"),
        "--storage-driver",
        "overlay",
        "system",
        "reset",
        "-f",
      ],
      { env: { ...process.env, CONTAINERS_CONF: join(work, "podman", "containers.conf") } },
    ).catch(() => undefined);
    await unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  }
}

/** dockerd and podman leave overlay and shm mounts under their roots when stopped abruptly. */
export async function unmountUnder(dir: string): Promise<void> {
  const { stdout } = await run("findmnt", ["-rn", "-o", "TARGET"]).catch(() => ({ stdout: "" }));
  const targets = stdout
    .split("\n")
    .filter((t) => t.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) await run("umount", ["-l", t]).catch(() => undefined);
}
