// A split between leaders is fenced off in Postgres. Process A leads a job through a TCP relay;
// the relay then stalls (A's lock connection hangs without closing, so A still believes it leads)
// and Postgres ends A's session, so the lock is free and process B is elected. A's next write is
// refused by the term check in its own transaction (FencedError) and A steps down; B's writes go
// through. Nothing A tried after B's election is in the database.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { createDb, type Db } from "@berth/db";
import { FencedError, Leadership } from "../src/index.ts";
import { createLogger } from "../src/logger.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { waitFor } from "@berth/test-support/wait";

let database: TestDatabase;
let db: Db;

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
});
after(async () => {
  await db?.$disconnect();
  await database?.drop();
});

/** A TCP relay to Postgres that can stall: bytes stop flowing both ways, and no close is passed on. */
async function stallableRelay(target: URL): Promise<{ port: number; stall(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (b) => void (stalled || upstream.write(b)));
    upstream.on("data", (b) => void (stalled || client.write(b)));
    // Stalled, a close is not passed on either: the far side just goes quiet.
    client.on("close", () => void (stalled || upstream.destroy()));
    upstream.on("close", () => void (stalled || client.destroy()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    stall: () => {
      stalled = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const replicaRow = (id: string) => ({ id, internalUrl: "http://127.0.0.1:1", secretHash: "x" });

test("a leader cut off without noticing has its writes refused once another is elected", { timeout: 60_000 }, async () => {
  const relay = await stallableRelay(new URL(database.url));
  const viaRelay = new URL(database.url);
  viaRelay.hostname = "127.0.0.1";
  viaRelay.port = String(relay.port);
  const logger = createLogger("test");
  // A notices a stalled connection only after a minute: the split lasts as long as the test needs.
  const a = new Leadership({ connectionString: viaRelay.toString(), name: "fence-test", logger, retryMs: 100, checkTimeoutMs: 60_000 });
  const b = new Leadership({ connectionString: database.url, name: "fence-test", logger, retryMs: 100 });
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  const deposed: string[] = [];
  a.on("deposed", () => deposed.push("a"));
  try {
    a.start();
    await waitFor("A leads", () => a.isLeader, 10_000, 20);
    b.start();
    const fencedA = a.fenced(db);
    await fencedA.controlPlaneReplica.create({ data: replicaRow("written-by-a-while-leading") });
    assert.equal(b.isLeader, false);

    // The split: A's lock connection hangs, and Postgres ends its session (the lock goes with it).
    const holder = await admin.query<{ pid: number }>(
      `select l.pid from pg_locks l join pg_stat_activity s on s.pid = l.pid
       where l.locktype = 'advisory' and l.granted and s.application_name = 'berth-leader-fence-test'`,
    );
    assert.equal(holder.rows.length, 1);
    relay.stall();
    await admin.query("select pg_terminate_backend($1)", [holder.rows[0]!.pid]);
    await waitFor("B elected", () => b.isLeader, 10_000, 20);
    assert.equal(a.isLeader, true, "A has not noticed: both believe they lead");

    await assert.rejects(fencedA.controlPlaneReplica.create({ data: replicaRow("written-by-a-after-the-split") }), FencedError);
    await assert.rejects(fencedA.controlPlaneReplica.deleteMany({}), FencedError);
    assert.equal(a.isLeader, false, "A stepped down when its write was fenced off");
    assert.deepEqual(deposed, ["a"]);

    await b.fenced(db).controlPlaneReplica.create({ data: replicaRow("written-by-b") });
    const rows = await db.controlPlaneReplica.findMany({ orderBy: { id: "asc" } });
    assert.deepEqual(
      rows.map((r) => r.id),
      ["written-by-a-while-leading", "written-by-b"],
    );
    const term = await db.leaderTerm.findUniqueOrThrow({ where: { job: "fence-test" } });
    assert.equal(term.term, 2n);
    // Reads are not fenced: a process that does not lead may still look.
    assert.equal(await fencedA.controlPlaneReplica.count(), 2);
  } finally {
    await relay.close();
    await a.stop();
    await b.stop();
    await admin.end();
  }
});
