// The fleet inventory: reports replace a host's rows of a kind whole (parts in order), tables
// page, sort and filter in Postgres, and callers see only their teams' hosts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createJoinToken, ensureDefaultTeam, globalSearch, InventoryStore, listFleet } from "../src/index.ts";
import { createLogger } from "../src/logger.ts";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";
import { joinWithToken } from "@berth/test-support/sim-agent";
import type { JoinResponse } from "@berth/protocol";

let t: TestControlPlane;
before(async () => {
  t = await startTestControlPlane();
});
after(async () => {
  await t.close();
});

async function host(name: string, teamId?: string): Promise<string> {
  const team = teamId ?? (await ensureDefaultTeam(t.cp.db)).id;
  const { token } = await createJoinToken(t.cp.db, { teamId: team, fingerprint: null });
  return ((await joinWithToken(t.url, token, name)).body as JoinResponse).hostId;
}

const ctr = (i: number, state = "running") => ({
  id: i.toString(16).padStart(64, "0"),
  name: `web-${String(i).padStart(4, "0")}`,
  image: i % 2 ? "nginx:1" : "busybox",
  state,
  created: 1_700_000_000 + i,
});

test("reports replace a host's list; parts come together; out-of-order parts are dropped", async () => {
  const h = await host("inv-a");
  const store = new InventoryStore(t.cp.db, createLogger("test"));
  store.take(h, { kind: "container", part: 0, last: false, items: [ctr(1), ctr(2)] });
  store.take(h, { kind: "container", part: 1, last: true, items: [ctr(3)] });
  await store.settled();
  const teamIds = [(await ensureDefaultTeam(t.cp.db)).id];
  const q = { kind: "container" as const, teamIds, hostId: h, sort: "name" as const, dir: "asc" as const, offset: 0, limit: 50 };
  assert.deepEqual(
    (await listFleet(t.cp.db, q)).rows.map((r) => r.name),
    ["web-0001", "web-0002", "web-0003"],
  );
  store.take(h, { kind: "container", part: 1, last: true, items: [ctr(9)] }); // no part 0 before it
  store.take(h, { kind: "container", part: 0, last: true, items: [ctr(2, "exited")] });
  await store.settled();
  const rows = (await listFleet(t.cp.db, q)).rows;
  assert.deepEqual(
    rows.map((r) => [r.name, r.state, r.hostName]),
    [["web-0002", "exited", "inv-a"]],
  );
});

test("paging, sorting, filtering and team scoping happen in the query", async () => {
  const team = (await ensureDefaultTeam(t.cp.db)).id;
  const h1 = await host("inv-b");
  const h2 = await host("inv-c");
  const store = new InventoryStore(t.cp.db, createLogger("test"));
  await store.replace(
    h1,
    "container",
    Array.from({ length: 600 }, (_, i) => ctr(i + 10, i % 3 ? "running" : "exited")),
  );
  await store.replace(
    h2,
    "container",
    Array.from({ length: 400 }, (_, i) => ctr(i + 1000)),
  );
  const other = await t.cp.db.team.create({ data: { name: "elsewhere" } });
  const h3 = await host("inv-hidden", other.id);
  await store.replace(h3, "container", [ctr(5000)]);
  const base = { kind: "container" as const, teamIds: [team], sort: "name" as const, dir: "asc" as const, offset: 0, limit: 50 };
  const page = await listFleet(t.cp.db, { ...base, q: "web-", offset: 100 });
  assert.ok(page.total >= 1000);
  assert.equal(page.rows.length, 50);
  assert.ok(
    page.rows.every((r, i) => i === 0 || r.name >= page.rows[i - 1]!.name),
    "sorted by name",
  );
  const exited = await listFleet(t.cp.db, { ...base, hostId: h1, state: "exited", limit: 500 });
  assert.equal(exited.total, 200);
  const nginx = await listFleet(t.cp.db, { ...base, hostId: h2, q: "NGINX" });
  assert.equal(nginx.total, 200);
  const newest = await listFleet(t.cp.db, { ...base, sort: "created", dir: "desc", limit: 1 });
  assert.equal(newest.rows[0]!.name, "web-1399");
  assert.equal((await listFleet(t.cp.db, { ...base, q: "web-5000" })).total, 0, "another team's host is not listed");
  const found = await globalSearch(t.cp.db, [team], "inv-b");
  assert.deepEqual(
    found.hosts.map((x) => x.name),
    ["inv-b"],
  );
  assert.equal((await globalSearch(t.cp.db, [team], "web-0042")).containers[0]?.hostName, "inv-b");
  assert.equal((await globalSearch(t.cp.db, [team], "web-5000")).containers.length, 0);
});

test("a report larger than the cap is dropped as it comes, not held while it grows", async () => {
  const h = await host("inv-huge");
  const store = new InventoryStore(t.cp.db, createLogger("test"));
  await store.replace(h, "container", [ctr(1)]);
  for (let part = 0; part < 30; part++)
    store.take(h, { kind: "container", part, last: part === 29, items: Array.from({ length: 2000 }, (_, i) => ctr(part * 2000 + i)) });
  await store.settled();
  const teamIds = [(await ensureDefaultTeam(t.cp.db)).id];
  const rows = (await listFleet(t.cp.db, { kind: "container", teamIds, hostId: h, sort: "name", dir: "asc", offset: 0, limit: 10 })).rows;
  assert.deepEqual(
    rows.map((r) => r.name),
    ["web-0001"],
    "the 60,000-item report replaced nothing",
  );
  assert.equal(store.hasContainer(h, ctr(59_999).id), false);
});
