// Stats history: counters reported by an agent become rates in 10 s rows in Postgres, a host's
// own series beside its containers', newest points in memory, an hour kept, nothing older.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createJoinToken, ensureDefaultTeam, statsHistory, StatsIngest } from "../src/index.ts";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";
import { joinWithToken, linkedSimAgent } from "@berth/test-support/sim-agent";
import { waitFor } from "@berth/test-support/wait";
import { fakeFacts } from "@berth/test-support/facts";
import type { JoinResponse, StatsReport } from "@berth/protocol";
import { createLogger } from "../src/logger.ts";

let t: TestControlPlane;
before(async () => {
  t = await startTestControlPlane();
});
after(async () => {
  await t.close();
});

const C1 = "a".repeat(64);
const C2 = "b".repeat(64);
const GiB = 1024 ** 3;

/** A report at `at` ms: the host busy `busy` of `total` jiffies; containers' cumulative counters. */
function report(at: number, busy: number, total: number, containers: StatsReport["containers"]): StatsReport {
  return {
    type: "stats",
    at,
    host: {
      cpuBusy: busy,
      cpuTotal: total,
      cpus: 2,
      memUsed: 3 * GiB,
      memTotal: 8 * GiB,
      netRx: (at / 1000) * 4096,
      netTx: 0,
      diskRead: 0,
      diskWrite: (at / 1000) * 8192,
    },
    containers,
  };
}

test("reports become 10 s rows of rates; the newest point is served from memory", async () => {
  const team = await ensureDefaultTeam(t.cp.db);
  const { token } = await createJoinToken(t.cp.db, { teamId: team.id, fingerprint: null });
  const join = (await joinWithToken(t.url, token, "stats-host")).body as JoinResponse;
  const hostId = join.hostId;
  const ingest = new StatsIngest(t.cp.db, createLogger("test"));
  const t0 = Date.now() - 5_000;
  // Five reports a second apart: C1 uses half a core and writes 1 MiB/s of network; C2 idles.
  for (let i = 0; i <= 5; i++) {
    ingest.ingest(
      hostId,
      report(t0 + i * 1000, 100 + i * 50, 1000 + i * 200, [
        [C1, i * 0.5e9, 64 * 1024 ** 2, 128 * 1024 ** 2, i * 1024 ** 2, i * 2048, i * 4096, 0],
        [C2, 1e6, 1024 ** 2, 0, 0, 0, 0, 0],
      ]),
    );
  }
  const p = ingest.latestPoint(hostId, C1)!;
  assert.ok(Math.abs(p.cpuPercent - 50) < 1e-6, `C1 cpu ${p.cpuPercent}`);
  assert.equal(p.rxPerSec, 1024 ** 2);
  assert.equal(ingest.latestPoint(hostId)!.cpuPercent, 25); // 50 busy of 200 jiffies a second
  assert.equal(await ingest.flush(), 3); // host, C1, C2: one row each for the bucket
  const c1 = await statsHistory(t.cp.db, hostId, C1);
  assert.equal(c1.length, 1);
  assert.ok(Math.abs(c1[0]!.cpuPercent - 50) < 1e-6);
  assert.equal(c1[0]!.memBytes, 64 * 1024 ** 2);
  assert.equal(c1[0]!.memLimit, 128 * 1024 ** 2);
  assert.equal(c1[0]!.txPerSec, 2048);
  assert.equal(c1[0]!.readPerSec, 4096);
  // No limit reads as the host's memory, as docker stats shows it.
  assert.equal((await statsHistory(t.cp.db, hostId, C2))[0]!.memLimit, 8 * GiB);
  const host = await statsHistory(t.cp.db, hostId, "");
  assert.equal(host[0]!.memBytes, 3 * GiB);
  assert.ok(Math.abs(host[0]!.rxPerSec - 4096) < 1e-6, "host network rate");
  assert.ok(Math.abs(host[0]!.writePerSec - 8192) < 1e-6, "host disk write rate");
  assert.equal(await ingest.flush(), 0, "nothing new, nothing written");

  // A restarted container's counters go back: that interval is skipped, not negative.
  ingest.ingest(hostId, report(t0 + 6000, 400, 2200, [[C1, 1e6, 1, 1, 0, 0, 0, 0]]));
  ingest.ingest(hostId, report(t0 + 7000, 450, 2400, [[C1, 2e8 + 1e6, 1, 1, 0, 0, 0, 0]]));
  assert.ok(Math.abs(ingest.latestPoint(hostId, C1)!.cpuPercent - 20) < 1e-6);

  // Retention: rows older than an hour go.
  await t.cp.db.statSample.create({
    data: {
      hostId,
      containerId: C1,
      at: new Date(Date.now() - 61 * 60_000),
      cpuPercent: 1,
      memBytes: 1n,
      memLimit: 1n,
      rxPerSec: 0,
      txPerSec: 0,
      readPerSec: 0,
      writePerSec: 0,
    },
  });
  assert.equal(await ingest.prune(), 1);
  assert.equal((await statsHistory(t.cp.db, hostId, C1)).length, 1);
});

test("an agent's stats frames reach the control plane's history", { timeout: 30_000 }, async () => {
  const team = await ensureDefaultTeam(t.cp.db);
  const { token } = await createJoinToken(t.cp.db, { teamId: team.id, fingerprint: null });
  const join = (await joinWithToken(t.url, token, "stats-sim")).body as JoinResponse;
  const sim = await linkedSimAgent(t.url, join.credential, "stats-sim");
  // The host reports C1 among its containers, not C2.
  sim.sendRaw(JSON.stringify({ type: "inventory", kind: "container", part: 0, last: true, items: [{ id: C1, name: "c1", created: 1 }] }));
  const t0 = Date.now() - 2000;
  const both = (cpu: number): StatsReport["containers"] => [
    [C1, cpu, 1, 1, 0, 0, 0, 0],
    [C2, cpu, 1, 1, 0, 0, 0, 0],
  ];
  await waitFor("the inventory", async () => (await t.cp.db.inventoryItem.count({ where: { hostId: join.hostId } })) === 1);
  sim.sendRaw(JSON.stringify(report(t0, 0, 100, both(0))));
  sim.sendRaw(JSON.stringify(report(t0 + 1000, 10, 200, both(1e9))));
  await waitFor("the newest point", () => t.cp.stats.latestPoint(join.hostId, C1));
  assert.ok(Math.abs(t.cp.stats.latestPoint(join.hostId, C1)!.cpuPercent - 100) < 1e-6);
  assert.equal(t.cp.stats.latestPoint(join.hostId, C2), null, "a container the host never reported gets no series");
  // A report stamped an hour ahead is refused whole: the series keeps its last good point.
  sim.sendRaw(JSON.stringify(report(Date.now() + 3_600_000, 20, 300, both(5e9))));
  // A link's frames are handled in order: once a facts frame sent after the report shows, the
  // report has been handled.
  sim.sendRaw(JSON.stringify({ type: "facts", facts: { ...fakeFacts("stats-sim"), cpus: 7 } }));
  await waitFor(
    "the facts sent after the report",
    async () => ((await t.cp.db.host.findUniqueOrThrow({ where: { id: join.hostId } })).facts as { cpus: number }).cpus === 7,
  );
  assert.ok(Math.abs(t.cp.stats.latestPoint(join.hostId, C1)!.cpuPercent - 100) < 1e-6, "the future report changed nothing");
  assert.equal(t.cp.gateway.isConnected(join.hostId), true, "refused, not disconnected");
  // A frame that breaks the schema closes that agent's link, as any bad frame does.
  sim.sendRaw(JSON.stringify({ ...report(t0 + 2000, 0, 0, []), containers: [["not-an-id", 0, 0, 0, 0, 0, 0, 0]] }));
  await waitFor("closed", () => !t.cp.gateway.isConnected(join.hostId));
  sim.close();
});
