// A bench agent process: the agent's runtime (container service, stats) in its own process, so
// its RSS and CPU can be measured from outside. Driven over IPC by bench/idle-containers.ts.
import { setMaxListeners } from "node:events";
import type { ContainerService } from "../../apps/agent/src/containers/service.ts";
import { busyboxRuntime } from "@berth/test-support/busybox-runtime";
import { createRuntime } from "../../apps/agent/src/runtime.ts";
import { serveAgentWorker } from "../../apps/agent/src/worker-main.ts";

type Request =
  | { op: "create"; count: number; concurrency: number }
  | { op: "stats-once" }
  | { op: "stream"; seconds: number }
  | { op: "pids" }
  | { op: "cleanup" };

// Bundled as the agent ships (one CommonJS file), so its worker threads start from this file.
if (!serveAgentWorker()) {
  void main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}

async function main(): Promise<void> {
  const [mode, stateDir, cgroupParent] = process.argv.slice(2) as ["prepare" | "serve", string, string];
  if (mode === "prepare") {
    // The image goes in from another process, so the measured agent starts as an agent does: from its state.
    const { rt } = await busyboxRuntime({ stateDir, cgroupParent });
    await rt.containers.close();
    process.exit(0);
  }
  const rt = createRuntime(stateDir, { cgroupParent });
  await rt.containers.init();
  const reply = (m: unknown) => process.send!(m);
  process.on("message", (msg: Request) => {
    void handle(rt.containers, msg).then(reply, (e: unknown) => reply({ error: e instanceof Error ? e.message : String(e) }));
  });
  reply({ ready: true });
}

async function handle(c: ContainerService, msg: Request): Promise<unknown> {
  if (msg.op === "create") {
    let next = 0;
    const worker = async () => {
      while (next < msg.count) {
        next++;
        const { Id } = await c.create({ Image: "busybox", Cmd: ["sleep", "1000000"] });
        await c.start(Id);
      }
    };
    await Promise.all(Array.from({ length: msg.concurrency }, worker));
    return { running: c.list().length };
  }
  if (msg.op === "stats-once") {
    // One pass over every container, one-shot samples one after another: each call's latency.
    const latencies: number[] = [];
    for (const row of c.list()) {
      const t0 = performance.now();
      await c.stats(String(row.Id));
      latencies.push(performance.now() - t0);
    }
    return { latencies };
  }
  if (msg.op === "stream") {
    // Every container's stats streamed at 1 Hz, as the dashboard would ask for them.
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    let samples = 0;
    const streams = c.list().map(async (row) => {
      for await (const _ of c.statsStream(String(row.Id), { signal: ac.signal })) samples++;
    });
    await new Promise((r) => setTimeout(r, msg.seconds * 1000));
    ac.abort();
    await Promise.allSettled(streams);
    return { samples };
  }
  if (msg.op === "pids") {
    return c.store.all().map((r) => ({ conmon: r.conmonPid, init: r.state.Pid }));
  }
  for (const r of c.store.all()) await c.remove(r.id, { force: true }).catch(() => undefined);
  await c.close();
  return { done: true };
}
