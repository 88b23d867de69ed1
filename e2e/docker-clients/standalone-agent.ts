// A standalone agent for third-party Docker clients: a one-host lab, a registry on the lab's
// gateway seeded with busybox and used as the Docker Hub mirror (so `busybox` pulls with no
// internet), and the agent bundle serving the Docker API on a unix socket from inside the lab
// host's network namespace with bridge networking on and a cgroup parent of its own. Clients run
// in the same namespace, so every address they reach is one the lab made.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBundlePath } from "../../scripts/build.ts";
import { createLab, type Lab, type LabHost } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { waitFor } from "@berth/test-support/wait";
import { createRuntime } from "../../apps/agent/src/runtime.ts";

/** Output kept per stream of a client run; more than this is cut from the front. */
const MAX_OUTPUT = 4 << 20;
const LOG_TAIL = 60_000;

export interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

export interface StandaloneAgent {
  lab: Lab;
  host: LabHost;
  reg: TestRegistry;
  /** A scratch directory of the test's own, removed by stop(). */
  dir: string;
  socket: string;
  /** The tail of the agent's output, for failure messages. */
  log(): string;
  /** Runs a client in the lab host's network namespace with DOCKER_HOST set to the agent's socket. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<ClientResult>;
  /** Stops the agent, removes what its containers left, then the registry, the lab and the scratch directory. */
  stop(): Promise<void>;
}

/** The caller's environment without Docker or Compose settings that would point a client elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(DOCKER_|COMPOSE_)/.test(k)) delete env[k];
  return env;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export async function startStandaloneAgent(name: string): Promise<StandaloneAgent> {
  const dir = mkdtempSync(join(tmpdir(), `berth-${name}-`));
  const socket = join(dir, "docker.sock");
  const stateDir = join(dir, "agent");
  const cgroupParent = `/berth-${name}-${process.pid}`;
  let lab: Lab | undefined;
  let reg: TestRegistry | undefined;
  let agent: ChildProcess | undefined;
  let agentLog = "";

  const stop = async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((r) => agent!.once("exit", r));
      agent.kill("SIGKILL");
      await exited;
    }
    // Containers outlive the agent by design: remove what the test left, then the lab.
    if (existsSync(stateDir)) {
      const rt = createRuntime(stateDir, { cgroupParent });
      await rt.containers.init().catch(() => undefined);
      for (const c of rt.containers.store.all()) await rt.containers.remove(c.id, { force: true }).catch(() => undefined);
      await rt.containers.close();
    }
    removeCgroupParent(cgroupParent);
    await reg?.stop();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    lab = await createLab(1);
    const host = lab.hosts[0]!;
    reg = await startRegistry({ host: lab.gateway });
    await seedBusybox(reg, dir);
    const args = [
      "run",
      "--state-dir",
      stateDir,
      "--docker-socket",
      socket,
      "--registry-mirror",
      reg.url,
      "--insecure-registry",
      reg.domain,
    ];
    agent = spawn("nsenter", [`--net=/run/netns/${host.netns}`, "--", process.execPath, agentBundlePath, ...args], {
      env: { ...process.env, BERTH_NETWORKING: "1", BERTH_CGROUP_PARENT: cgroupParent, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (d: Buffer) => (agentLog = (agentLog + d.toString()).slice(-LOG_TAIL));
    agent.stdout!.on("data", keep);
    agent.stderr!.on("data", keep);
    const started = agent;
    await waitFor(
      "the agent's Docker API",
      async () => {
        if (started.exitCode !== null) throw new Error(`the agent exited: ${agentLog}`);
        return existsSync(socket) && (await ping(socket));
      },
      30_000,
    );

    const run = (cmd: string, cmdArgs: string[], opts: RunOptions = {}) =>
      new Promise<ClientResult>((resolve) => {
        const env = { ...cleanEnv(), DOCKER_HOST: `unix://${socket}`, ...opts.env };
        const p = spawn("nsenter", [`--net=/run/netns/${host.netns}`, "--", cmd, ...cmdArgs], {
          env,
          cwd: opts.cwd ?? dir,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        p.stdout!.on("data", (d: Buffer) => (stdout = (stdout + d.toString()).slice(-MAX_OUTPUT)));
        p.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-MAX_OUTPUT)));
        const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
        p.on("close", (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}\n(killed by ${signal})` : stderr });
        });
      });

    return { lab, host, reg, dir, socket, log: () => agentLog, run, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
