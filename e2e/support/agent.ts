// A real agent process (the bundle, as install.sh runs it) joined to a test control plane, and
// the clean-up its containers need: they outlive the agent by design, so a test removes them.
import { spawn, type ChildProcess } from "node:child_process";
import { agentBundlePath } from "../../scripts/build.ts";
import { createRuntime } from "../../apps/agent/src/runtime.ts";
import { removeCgroupParent } from "../../apps/agent/test/support/busybox-runtime.ts";

export interface TestAgent {
  proc: ChildProcess;
  stateDir: string;
  /** SIGKILLs the agent, then removes every container it left and its cgroup parent. */
  stop(): Promise<void>;
}

export function spawnAgent(o: { url: string; token: string; stateDir: string; name: string; registryMirror?: string }): TestAgent {
  const cgroupParent = `/berth-e2e-${o.name}-${process.pid}`;
  const proc = spawn(process.execPath, [agentBundlePath, "join", "--url", o.url, "--token", o.token, "--state-dir", o.stateDir, "--name", o.name, ...(o.registryMirror ? ["--registry-mirror", o.registryMirror] : [])], {
    stdio: "ignore",
    env: { ...process.env, BERTH_CGROUP_PARENT: cgroupParent },
  });
  return {
    proc,
    stateDir: o.stateDir,
    stop: async () => {
      if (proc.exitCode === null) {
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
