// A real agent process (the bundle, as install.sh runs it) joined to a test control plane, and
// the clean-up its containers need: they outlive the agent by design, so a test removes them.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { agentBundlePath } from "../../../scripts/build.ts";
import { createRuntime } from "../../../apps/agent/src/runtime.ts";
import { removeCgroupParent } from "./cgroups.ts";
import type { TestControlPlane, UserClient } from "./control-plane.ts";
import { waitFor } from "./wait.ts";

export interface TestAgent {
  proc: ChildProcess;
  stateDir: string;
  /** SIGKILLs the agent, then removes every container it left and its cgroup parent. */
  stop(): Promise<void>;
}

/**
 * `netns`: the agent runs in that lab namespace (nsenter execs it, so the PID is the agent's) with
 * bridge networking on; otherwise it runs here with networking off, as every test agent outside the lab.
 */
export function spawnAgent(o: {
  url: string;
  token: string;
  stateDir: string;
  name: string;
  registryMirror?: string;
  netns?: string;
}): TestAgent {
  const cgroupParent = `/berth-e2e-${o.name}-${process.pid}`;
  const inLab = o.netns ? ["nsenter", `--net=/run/netns/${o.netns}`, "--"] : [];
  const [cmd, ...prefix] = [...inLab, process.execPath];
  const proc = spawn(
    cmd!,
    [
      ...prefix,
      agentBundlePath,
      "join",
      "--url",
      o.url,
      "--token",
      o.token,
      "--state-dir",
      o.stateDir,
      "--name",
      o.name,
      ...(o.registryMirror ? ["--registry-mirror", o.registryMirror] : []),
    ],
    {
      stdio: "ignore",
      // Each test agent serves the Docker API on a socket of its own, not the machine's /run/berth/docker.sock.
      env: {
        ...process.env,
        BERTH_CGROUP_PARENT: cgroupParent,
        BERTH_DOCKER_SOCKET: join(o.stateDir, "docker.sock"),
        ...(o.netns ? { BERTH_NETWORKING: "1" } : {}),
      },
    },
  );
  return {
    proc,
    stateDir: o.stateDir,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await new Promise((r) => proc.once("exit", r));
      }
      const rt = createRuntime(o.stateDir, { cgroupParent });
      await rt.containers.init();
      for (const c of rt.containers.store.all()) await rt.containers.remove(c.id, { force: true }).catch(() => undefined);
      await rt.containers.close();
      removeCgroupParent(cgroupParent);
    },
  };
}

/** Joins a real agent with a token the user makes, waits until it is linked, and gives its host ID. */
export async function linkAgent(
  t: TestControlPlane,
  user: UserClient,
  o: { stateDir: string; name: string; registryMirror?: string },
): Promise<{ agent: TestAgent; hostId: string }> {
  const { token } = await user.trpc.joinTokens.create.mutate({ maxUses: 1 });
  const agent = spawnAgent({ url: t.url, token, ...o });
  const host = await waitFor(
    "agent linked",
    async () => {
      const h = (await user.trpc.hosts.list.query()).find((x) => x.name === o.name);
      return h && t.cp.gateway.isConnected(h.id) ? h : null;
    },
    30_000,
  );
  return { agent, hostId: host.id };
}
