// Services on real hosts: three network-namespace hosts of the lab, each with a real agent and
// runc, a control plane in a process of its own, busybox from a registry on the lab's gateway.
// - create: `services.create` of 6 replicas until all 6 run. The first round pulls the image on
//   every host (a fresh fleet); the next rounds find it there (a fleet in service).
// - failover: a host's agent is SIGKILLed and its link cut; the time until its task runs elsewhere.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, setGlobalDispatcher } from "undici";
import { readFileSync } from "node:fs";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { median } from "./stats.ts";

export interface ServicesLabResult {
  /** Create of 6 replicas to all running, the image pulled on every host. */
  coldCreateMs: number;
  /** The same with the image already on the hosts: the median of the rounds. */
  warmCreateMs: number;
  warmRounds: number;
  /** A host's agent killed and its link cut, to its task running on another host. */
  failoverMs: number;
}

export async function servicesLabBench(opts: { warmRounds: number }): Promise<ServicesLabResult> {
  const tmp = mkdtempSync(join(tmpdir(), "berth-bench-services-lab-"));
  let lab: Lab | null = null;
  let cp: ControlPlaneProcess | null = null;
  let mirror: TestRegistry | null = null;
  const agents: TestAgent[] = [];
  try {
    lab = await createLab(3);
    cp = await startControlPlaneProcess({ host: lab.gateway });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(cp.caFile!) } }));
    mirror = await startRegistry({ host: lab.gateway });
    await seedBusybox(mirror, tmp);
    const owner = await signUp(cp.url, "bench-lab@example.com", "bench-password", inviteOf(cp.setupLink));
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
    for (const h of lab.hosts)
      agents.push(
        spawnAgent({ url: cp.url, token, stateDir: join(tmp, h.name), name: h.name, netns: h.netns, registryMirror: mirror.url }),
      );
    await waitFor(
      "three hosts linked",
      async () => (await owner.trpc.hosts.list.query()).filter((h) => h.connected).length === 3,
      60_000,
      250,
    );

    const running = async (id: string) =>
      (await owner.trpc.services.tasks.query({ id })).filter((t) => t.desiredState === "running" && t.state === "running");
    /** Creates a service of `replicas` and gives the time until all run. */
    const createRun = async (name: string, replicas: number) => {
      const t0 = Date.now();
      const svc = await owner.trpc.services.create.mutate({
        teamId,
        spec: { name, task: { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500 }, mode: { kind: "replicated", replicas } },
      });
      await waitFor(`${name} running`, async () => (await running(svc.id)).length === replicas, 120_000, 20);
      return { id: svc.id, ms: Date.now() - t0 };
    };
    const removeAll = async (id: string) => {
      await owner.trpc.services.remove.mutate({ id });
      const hosts = await owner.trpc.hosts.list.query();
      await waitFor(
        "task containers removed",
        async () => {
          for (const h of hosts) {
            const list = await owner.trpc.containers.list.query({ hostId: h.id, all: true });
            if (list.some((c) => c.Labels?.["com.docker.swarm.service.id"] === id)) return false;
          }
          return true;
        },
        60_000,
        200,
      );
    };

    const cold = await createRun("cold", 6);
    await removeAll(cold.id);
    const warm: number[] = [];
    for (let r = 0; r < opts.warmRounds; r++) {
      const w = await createRun(`warm-${r}`, 6);
      warm.push(w.ms);
      await removeAll(w.id);
    }

    // Failover: one task per host; the third host dies.
    const spread = await createRun("survivor", 3);
    const lost = lab.hosts[2]!;
    const lostId = (await owner.trpc.hosts.list.query()).find((h) => h.name === lost.name)!.id;
    agents[2]!.proc.kill("SIGKILL");
    await lab.cut(lost);
    const cutAt = Date.now();
    await waitFor(
      "the lost host's task running elsewhere",
      async () => {
        const r = await running(spread.id);
        return r.length === 3 && r.every((t) => t.hostId !== lostId);
      },
      60_000,
      20,
    );
    const failoverMs = Date.now() - cutAt;
    await lab.restore(lost);
    return { coldCreateMs: cold.ms, warmCreateMs: median(warm), warmRounds: warm.length, failoverMs };
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await cp?.stop();
    await mirror?.stop();
    await lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}
