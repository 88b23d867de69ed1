// Published ports the routing mesh picks, against a real Postgres: Swarm's range, the lowest free
// one among the team's services, kept across an update, freed with the service, per protocol.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDb, type Db } from "@berth/db";
import { ensureDefaultTeam, ServiceStore } from "../src/index.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";

let database: TestDatabase;
let db: Db;
let store: ServiceStore;
let teamId: string;

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  store = new ServiceStore(db);
  teamId = (await ensureDefaultTeam(db)).id;
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

const spec = (name: string, ports: unknown[]) => ({
  name,
  task: { image: "busybox" },
  mode: { kind: "replicated", replicas: 0 },
  endpoint: { ports },
});
const published = (s: { spec: { endpoint: { ports: Array<{ published?: number; protocol: string }> } } }) =>
  s.spec.endpoint.ports.map((p) => `${p.published}/${p.protocol}`);

test("ingress ports without a number get the lowest free one from 30000, kept across updates and freed with the service", async () => {
  const a = await store.create(teamId, spec("a", [{ target: 80 }, { target: 53, protocol: "udp" }]), null);
  assert.deepEqual(published(a), ["30000/tcp", "30000/udp"]);
  const b = await store.create(teamId, spec("b", [{ target: 80 }, { target: 8080, published: 30002 }]), null);
  assert.deepEqual(published(b), ["30001/tcp", "30002/tcp"]);
  // Host-mode ports are the host's to pick, at the task's start.
  const h = await store.create(teamId, spec("h", [{ target: 80, publishMode: "host" }]), null);
  assert.deepEqual(published(h), ["undefined/tcp"]);
  // An update that leaves the number out keeps the service's own.
  const a2 = await store.update(a.id, a.version, spec("a", [{ target: 80 }, { target: 53, protocol: "udp" }, { target: 443 }]), null);
  assert.deepEqual(published(a2), ["30000/tcp", "30000/udp", "30003/tcp"]);
  await store.remove(a.id);
  const c = await store.create(teamId, spec("c", [{ target: 80 }]), null);
  assert.deepEqual(published(c), ["30000/tcp"], "a removed service's port is free again");
});
