// Stacks on simulated hosts, the control plane in a process of its own: a fleet stack of 20
// services (2 replicas each) is deployed through the API and left running; then the same source
// is deployed again, several times. Each redeploy's time (the API call, which returns once every
// service is checked and found unchanged), and what it restarted: tasks made, or ended, after the
// stack was running (the anchor is moby#31357: `docker stack deploy` of an unchanged file can
// restart services).
import { startControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createDb } from "@berth/db";
import { inviteOf, signUp } from "@berth/test-support/control-plane";
import type { SimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";
import { settled, simFleet } from "./services.ts";
import { percentile } from "./stats.ts";

export interface StacksBenchResult {
  hosts: number;
  services: number;
  replicas: number;
  firstDeployMs: number;
  allRunningMs: number;
  rounds: number;
  redeployP50Ms: number;
  redeployMaxMs: number;
  /** Tasks made, and tasks stopped, by the redeploys (both should be 0). */
  tasksMade: number;
  tasksEnded: number;
  /** Services that got a new version from the redeploys (should be 0). */
  servicesChanged: number;
}

function composeOf(services: number, replicas: number): string {
  const lines = ["services:"];
  for (let i = 1; i <= services; i++)
    lines.push(
      `  svc${String(i).padStart(2, "0")}:`,
      "    image: busybox",
      `    command: ["sleep", "3600"]`,
      `    environment: {INDEX: "${i}", GREETING: "\${GREETING}"}`,
      `    deploy: {replicas: ${replicas}}`,
    );
  return `${lines.join("\n")}\n`;
}

export async function stacksBench(opts: { hosts: number; services: number; replicas: number; rounds: number }): Promise<StacksBenchResult> {
  const cp = await startControlPlaneProcess();
  const db = createDb(cp.databaseUrl, { poolSize: 2 });
  const agents: SimAgent[] = [];
  try {
    const owner = await signUp(cp.url, "bench-stacks@example.com", "bench-password", inviteOf(cp.setupLink));
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: opts.hosts, expiresInSeconds: 3600 });
    await simFleet(cp.url, token, "stack", opts.hosts, agents);
    await waitFor("hosts online", async () => (await db.host.count({ where: { status: "online" } })) === opts.hosts, 60_000, 250);
    await settled(cp.proc.pid!);

    const total = opts.services * opts.replicas;
    const sent = Date.now();
    const { stack } = await owner.trpc.stacks.create.mutate({
      teamId,
      name: "bench",
      source: { files: { "compose.yaml": composeOf(opts.services, opts.replicas) }, composeFiles: ["compose.yaml"] },
      env: { GREETING: "hello" },
    });
    const firstDeployMs = Date.now() - sent;
    await waitFor(
      "stack running",
      async () => (await db.task.count({ where: { state: "running", desiredState: "running" } })) === total,
      120_000,
      50,
    );
    const allRunningMs = Date.now() - sent;
    await settled(cp.proc.pid!);

    const before = await db.task.findMany({ select: { id: true } });
    const versions = await db.service.findMany({ select: { id: true, version: true } });
    const times: number[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      const t0 = Date.now();
      const d = await owner.trpc.stacks.deploy.mutate({ id: stack.id });
      times.push(Date.now() - t0);
      if (d.outcome !== "succeeded" || (d.summary.unchanged?.length ?? 0) !== opts.services)
        throw new Error(`redeploy ${i + 1}: ${d.outcome}, ${JSON.stringify(d.summary)}`);
    }
    // The reconciler's passes after the redeploys (it is kicked for each service) have run.
    await new Promise((r) => setTimeout(r, 2_000));
    await settled(cp.proc.pid!);
    const known = new Set(before.map((t) => t.id));
    const after = await db.task.findMany({ select: { id: true, desiredState: true, state: true } });
    const versionsAfter = new Map((await db.service.findMany({ select: { id: true, version: true } })).map((s) => [s.id, s.version]));
    return {
      hosts: opts.hosts,
      services: opts.services,
      replicas: opts.replicas,
      firstDeployMs,
      allRunningMs,
      rounds: opts.rounds,
      redeployP50Ms: percentile(times, 50),
      redeployMaxMs: Math.max(...times),
      tasksMade: after.filter((t) => !known.has(t.id)).length,
      tasksEnded: after.filter((t) => t.desiredState !== "running" || t.state !== "running").length,
      servicesChanged: versions.filter((s) => versionsAfter.get(s.id) !== s.version).length,
    };
  } finally {
    for (const a of agents) a.ws.terminate();
    await db.$disconnect();
    await cp.stop();
  }
}
