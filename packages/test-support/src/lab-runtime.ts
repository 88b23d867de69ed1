// Drives an agent runtime running in a lab host's network namespace (see lab-runtime-child.ts):
// bridges, veths and nftables rules are made there, never in the machine's own namespace.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface LabRuntime {
  call<T = unknown>(target: "containers" | "networks" | "volumes", method: string, ...args: unknown[]): Promise<T>;
  run(config: Record<string, unknown>): Promise<{ code: number; out: string }>;
  /** A container's log so far. */
  logs(id: string): Promise<string>;
  /** SIGKILLs the agent (its containers keep running under conmon). */
  kill(): Promise<void>;
  child: ChildProcess;
}

export async function startLabRuntime(
  netns: string,
  stateDir: string,
  cgroupParent: string,
  defaultSubnet: string,
  fresh: boolean,
  dnsUpstream?: string,
): Promise<LabRuntime> {
  const entry = fileURLToPath(new URL("./lab-runtime-child.ts", import.meta.url));
  const child = spawn(
    "nsenter",
    [
      `--net=/run/netns/${netns}`,
      "--",
      process.execPath,
      "--import",
      "tsx",
      entry,
      stateDir,
      cgroupParent,
      defaultSubnet,
      fresh ? "1" : "0",
    ],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...(dnsUpstream ? { LAB_DNS_UPSTREAM: dnsUpstream } : {}) },
    },
  );
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
    child.once("exit", (code) => reject(new Error(`the lab agent exited (${code})`)));
  });
  child.on("message", (m: { id: number; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.result);
  });
  await ready;
  const send = <T>(target: string, method: string, args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, target, method, args });
    });
  return {
    child,
    call: (target, method, ...args) => send(target, method, args),
    run: (config) => send("run", "run", [config]),
    logs: (id) => send("logs", "logs", [id]),
    kill: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    },
  };
}
