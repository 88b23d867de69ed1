// Lab: two control-plane processes on one Postgres behind Debian's HAProxy, three network-namespace
// hosts with real agents: one knows both processes' addresses (A first), one knows them B first,
// one knows only the load balancer's. A command and an exec stream sent through one process reach
// a host linked to the other; a service's task that dies on a host linked to the process that does
// not lead is healed by the leader; an internal call from anything but a registered process is
// refused; killing the process that holds most agents has them all re-linked to the other within 5 s,
// a browser following a container's log through the load balancer reconnects and resumes with no
// line lost or repeated, and a heal after it is run by the survivor.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Browser } from "playwright-core";
import { Agent, setGlobalDispatcher } from "undici";
import { WebSocket } from "ws";
import { StreamClient } from "@berth/cli/streams";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { inviteOf, signUp, trpcClient, type UserClient } from "@berth/test-support/control-plane";
import { startControlPlaneProcess, type ControlPlaneProcess } from "@berth/test-support/control-plane-process";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { startHaproxy, type LoadBalancer } from "@berth/test-support/haproxy";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { freeLoopbackPort } from "../../scripts/postgres.ts";
import { launchChromium } from "../support/browser.ts";

let lab: Lab;
let database: TestDatabase;
let a: ControlPlaneProcess;
let b: ControlPlaneProcess;
let lb: LoadBalancer;
let mirror: TestRegistry;
let browser: Browser | undefined;
const agents: TestAgent[] = [];
const tmp = mkdtempSync(join(tmpdir(), "berth-replicas-"));

/** A process's replica id, as its /healthz says. */
async function replicaOf(p: ControlPlaneProcess): Promise<string> {
  const res = await fetch(`${p.url}/healthz`);
  return ((await res.json()) as { replica: string }).replica;
}

/** Which process each host is linked to, as Postgres has it. */
async function links(): Promise<Map<string, string | null>> {
  const c = new pg.Client({ connectionString: database.url });
  await c.connect();
  try {
    const r = await c.query<{ id: string; linkedReplicaId: string | null }>(`select id, "linkedReplicaId" from host`);
    return new Map(r.rows.map((x) => [x.id, x.linkedReplicaId]));
  } finally {
    await c.end();
  }
}

before(async () => {
  lab = await createLab(3);
  database = await createTestDatabase();
  const dataDir = join(tmp, "control-plane");
  // Browsers and agents that use the load balancer's address: every process serves as it.
  const lbPort = await freeLoopbackPort();
  const publicUrl = `https://${lab.gateway}:${lbPort}`;
  // With the dashboard: a browser follows a log through the load balancer.
  const env = { LOG_LEVEL: "info", PUBLIC_URL: publicUrl, BERTH_WEB_UI: "1" };
  a = await startControlPlaneProcess({ database, host: lab.gateway, dataDir, env });
  // With no owner yet, each process that starts makes a new setup link and revokes the older one.
  b = await startControlPlaneProcess({ database, host: lab.gateway, dataDir, env });
  lb = await startHaproxy({ host: lab.gateway, port: lbPort, backends: [a.url, b.url] });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(a.caFile!) } }));
  mirror = await startRegistry({ host: lab.gateway });
  await seedBusybox(mirror, tmp);
});

after(async () => {
  await browser?.close();
  for (const x of agents) await x.stop().catch(() => undefined);
  await lb?.stop();
  await b?.stop();
  await a?.stop();
  await mirror?.stop();
  await lab?.destroy();
  await database?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

test("commands, streams and heals cross processes; losing one re-links its agents within 5 s", { timeout: 300_000 }, async () => {
  try {
    await crossing();
  } catch (e) {
    // What the processes said is the best clue to a failure here.
    console.log(
      `# process A:\n${a.output().split("\n").slice(-40).join("\n")}\n# process B:\n${b.output().split("\n").slice(-40).join("\n")}`,
    );
    throw e;
  }
});

async function crossing(): Promise<void> {
  const owner: UserClient = await signUp(lb.url, "replicas-owner@example.com", "replicas-password", inviteOf(b.setupLink));
  const viaA = trpcClient(a.url, owner.cookie);
  const viaB = trpcClient(b.url, owner.cookie);
  const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
  const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
  const urls = [`${a.url},${b.url}`, `${b.url},${a.url}`, lb.url];
  for (const [i, h] of lab.hosts.entries()) {
    agents.push(
      spawnAgent({ url: urls[i]!, token, stateDir: join(tmp, h.name), name: h.name, netns: h.netns, registryMirror: mirror.url }),
    );
  }
  // Every host shows as linked through either process, wherever its agent is.
  for (const client of [viaA, viaB])
    await waitFor(
      "all three hosts linked, seen from each process",
      async () => (await client.hosts.list.query()).filter((h) => h.connected && h.status === "online").length === 3,
      60_000,
      250,
    );
  const [replicaA, replicaB] = [await replicaOf(a), await replicaOf(b)];
  const hosts = await viaA.hosts.list.query();
  const byName = new Map(hosts.map((h) => [h.name, h.id]));
  const linked = await links();
  assert.equal(linked.get(byName.get(lab.hosts[0]!.name)!), replicaA);
  assert.equal(linked.get(byName.get(lab.hosts[1]!.name)!), replicaB);
  const onB = byName.get(lab.hosts[1]!.name)!;

  // A command through A for the host linked to B: it is run by B, and its reply comes back; a
  // pull's progress crosses too.
  await viaA.images.pull.mutate({ hostId: onB, reference: "busybox" });
  const ran = await viaA.containers.run.mutate({ hostId: onB, name: "crossing", config: { Image: "busybox", Cmd: ["sleep", "3600"] } });
  assert.ok(ran.Id);
  const listed = await viaA.containers.list.query({ hostId: onB });
  assert.ok(listed.some((c) => c.Names.includes("/crossing")));

  // An exec stream through A into that container: input goes in, output and the exit code come back.
  const term = new StreamClient({
    url: a.url,
    kind: "exec",
    hostId: onB,
    headers: { cookie: owner.cookie, origin: new URL(lb.url).origin },
    params: { id: "crossing", cmd: "/bin/sh", cols: 80, rows: 24 },
    rejectUnauthorized: false,
  });
  let out = "";
  let exit: number | undefined;
  const reader = (async () => {
    for await (const m of term) {
      if (m.o) out += m.o;
      if (m.exit !== undefined) exit = m.exit;
    }
  })();
  await waitFor("a prompt through A", () => out.includes("/ # "), 20_000);
  term.input("echo across-$((40+2))\r");
  await waitFor("the command's output", () => out.includes("across-42"), 20_000);
  term.input("exit 7\r");
  await reader;
  assert.equal(exit, 7);

  // Only registered processes may use the internal channel.
  for (const authorization of [undefined, `Replica ${replicaB}:not-its-secret`, "Replica cp-made-up:secret", `Bearer ${token}`]) {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${a.url.replace("https:", "wss:")}/internal/peer`, {
        rejectUnauthorized: false,
        ...(authorization ? { headers: { authorization } } : {}),
      });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => {
        ws.close();
        resolve(101);
      });
      ws.on("error", () => resolve(-1));
    });
    assert.equal(status, 401, `internal call with ${authorization ?? "no credential"}`);
  }

  // A service across the three hosts; A leads the reconciler (it started first).
  const svc = await viaA.services.create.mutate({
    teamId,
    spec: {
      name: "spread",
      task: { image: "busybox", args: ["sleep", "3600"], stopGracePeriodMs: 500 },
      mode: { kind: "replicated", replicas: 3 },
    },
  });
  const running = async (client: typeof viaA) =>
    (await client.services.tasks.query({ id: svc.id })).filter((t) => t.desiredState === "running" && t.state === "running");
  await waitFor("3 tasks running", async () => (await running(viaA)).length === 3, 90_000, 200);

  // A task dies on the host linked to B: A's reconciler hears of it from B and starts another.
  const victim = (await running(viaA)).find((t) => t.hostId === onB);
  assert.ok(victim?.containerId, "a task runs on the host linked to B");
  const killedAt = Date.now();
  await viaB.containers.kill.mutate({ hostId: onB, id: victim.containerId });
  await waitFor(
    "the task replaced",
    async () => {
      const now = await running(viaA);
      return now.length === 3 && !now.some((t) => t.id === victim.id);
    },
    30_000,
    100,
  );
  console.log(`# a task killed on B's host was replaced by A's reconciler after ${Date.now() - killedAt} ms`);

  // Kill the process holding most agents; every agent re-links to the other within 5 s.
  const before = await links();
  const countA = [...before.values()].filter((r) => r === replicaA).length;
  const [doomed, survivor, survivorClient] = countA >= 2 ? [a, b, viaB] : [b, a, viaA];
  const survivorId = doomed === a ? replicaB : replicaA;
  // A browser follows, through the load balancer, the log of a container on a host linked to the
  // process about to die: whichever process its stream reached, the stream breaks.
  const doomedId = doomed === a ? replicaA : replicaB;
  const tickerHost = [...before].find(([, r]) => r === doomedId)![0];
  await viaA.images.pull.mutate({ hostId: tickerHost, reference: "busybox" });
  const ticker = await viaA.containers.run.mutate({
    hostId: tickerHost,
    name: "ticker",
    config: { Image: "busybox", Cmd: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"] },
  });
  browser = await launchChromium();
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
  await context.addCookies(
    owner.cookie.split("; ").map((c) => ({ name: c.slice(0, c.indexOf("=")), value: c.slice(c.indexOf("=") + 1), url: lb.url })),
  );
  const page = await context.newPage();
  let logSockets = 0;
  page.on("websocket", (ws) => {
    if (ws.url().includes("/api/streams/logs")) logSockets++;
  });
  await page.goto(`${lb.url}/hosts/${tickerHost}/containers/${ticker.Id}`);
  /** The last tick on screen (the viewer renders only the rows in view, and follows the end). */
  const lastTick = async () =>
    Math.max(0, ...[...(await page.getByTestId("log-line").allTextContents()).join("\n").matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
  await waitFor("the ticker's log in the browser", async () => (await lastTick()) >= 5, 30_000, 100);
  const tickAtKill = await lastTick();

  await doomed.kill();
  const lostAt = Date.now();
  await waitFor(
    "every host re-linked to the surviving process",
    async () => [...(await links()).values()].every((r) => r === survivorId),
    30_000,
    50,
  );
  const relinked = Date.now() - lostAt;
  console.log(`# ${doomed === a ? "A" : "B"} killed: all agents re-linked to the other after ${relinked} ms`);
  assert.ok(relinked < 5_000, `all agents re-linked within 5 s (${relinked} ms)`);
  await waitFor(
    "hosts online through the survivor",
    async () => (await survivorClient.hosts.list.query()).filter((h) => h.connected && h.status === "online").length === 3,
    15_000,
    100,
  );

  // The browser's log stream came back by itself and carries on from where it was: every line,
  // from the first, once and in order (the viewer's download holds all it has).
  await waitFor("the log live again in the browser", async () => (await lastTick()) >= tickAtKill + 15, 30_000, 100);
  assert.ok(logSockets >= 2, `the page opened its log stream again (${logSockets} streams)`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download" }).click()]);
  const saved = readFileSync((await download.path())!, "utf8");
  const ticks = [...saved.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(ticks.length >= tickAtKill + 15, `${ticks.length} lines kept`);
  assert.deepEqual(
    ticks,
    ticks.map((_, i) => i + 1),
    "every tick, once, in order, across the reconnect",
  );
  await page.close();

  // And the survivor heals: a task killed now is replaced by its reconciler.
  const next = (await running(survivorClient))[0]!;
  await survivorClient.containers.kill.mutate({ hostId: next.hostId!, id: next.containerId! });
  await waitFor(
    "the task replaced by the survivor",
    async () => {
      const now = await running(survivorClient);
      return now.length === 3 && !now.some((t) => t.id === next.id);
    },
    45_000,
    100,
  );
  assert.ok(survivor.proc.exitCode === null);
  await survivorClient.services.remove.mutate({ id: svc.id });
}
