// Encrypted overlay networks on the control plane, against a real Postgres: tunnel addresses for
// the hosts' public keys, the mesh records in a network's state, the reserved mesh subnet, and
// the hosts' reports of networks they failed to program.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createDb, type Db } from "@berth/db";
import { createJoinToken, DomainError, ensureDefaultTeam, freeDefaultSubnet, OverlayStore, redeemJoinToken } from "../src/index.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";
import { fakeFacts } from "@berth/test-support/facts";

let database: TestDatabase;
let db: Db;
let store: OverlayStore;
let teamId: string;
const hosts: string[] = [];

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  store = new OverlayStore(db);
  teamId = (await ensureDefaultTeam(db)).id;
  for (const name of ["m1", "m2"]) {
    const { token } = await createJoinToken(db, { teamId, fingerprint: null, maxUses: 1 });
    const r = await redeemJoinToken(db, {
      token,
      name,
      agentVersion: "0.1.0",
      facts: fakeFacts(name),
      remoteAddr: "127.0.0.1",
      fingerprint: null,
    });
    hosts.push(r.hostId);
  }
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

/** A WireGuard public key: 32 random bytes, base64 (any 32 bytes are a valid x25519 public key). */
const key = () => randomBytes(32).toString("base64");

async function domainError(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DomainError, `expected a DomainError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a refusal");
}

test("each host gets its own tunnel address; a key is one host's; a new key or endpoint replaces the old", async () => {
  const k1 = key();
  const a = await store.registerMesh(hosts[0]!, { publicKey: k1, endpoint: "192.0.2.1", port: 51820 });
  const b = await store.registerMesh(hosts[1]!, { publicKey: key(), endpoint: "192.0.2.2", port: 51820 });
  assert.deepEqual(a, { address: "10.255.0.1", prefix: 16 });
  assert.deepEqual(b, { address: "10.255.0.2", prefix: 16 });
  // Again, and with a new endpoint: the same address.
  assert.deepEqual(await store.registerMesh(hosts[0]!, { publicKey: k1, endpoint: "192.0.2.9", port: 51820 }), a);
  assert.equal((await db.meshPeer.findUniqueOrThrow({ where: { hostId: hosts[0]! } })).endpoint, "192.0.2.9");
  // Another host presenting m1's key would get m1's traffic: refused.
  const e = await domainError(store.registerMesh(hosts[1]!, { publicKey: k1, endpoint: "192.0.2.2", port: 51820 }));
  assert.equal(e.code, "CONFLICT");
  assert.match(e.message, /registered by another host/);
});

test("an encrypted network's state names the mesh peers of the hosts on it, and only theirs", async () => {
  const net = await store.create(teamId, { name: "sec", attachable: true, encrypted: true }, null);
  assert.equal(net.encrypted, true);
  const attach = (hostId: string, containerId: string, vtep: string) =>
    store.attach(hostId, { network: "sec", containerId, name: containerId, aliases: [], serving: true, vtep });
  const first = await attach(hosts[0]!, "c1", "192.0.2.9");
  assert.deepEqual(
    first.network.mesh.map((p) => [p.address, p.endpoint]),
    [["10.255.0.1", "192.0.2.9"]],
  );
  const second = await attach(hosts[1]!, "c2", "192.0.2.2");
  assert.deepEqual(
    second.network.mesh.map((p) => p.address),
    ["10.255.0.1", "10.255.0.2"],
  );
  // A plain network carries none.
  await store.create(teamId, { name: "plain", attachable: true }, null);
  const plain = await store.attach(hosts[0]!, {
    network: "plain",
    containerId: "c3",
    name: "c3",
    aliases: [],
    serving: true,
    vtep: "192.0.2.9",
  });
  assert.deepEqual(plain.network.mesh, []);
});

test("the mesh subnet is reserved: a subnet inside it is refused, and the default pool skips it", async () => {
  const e = await domainError(store.create(teamId, { name: "clash", subnet: "10.255.3.0/24" }, null));
  assert.equal(e.code, "CONFLICT");
  assert.match(e.message, /overlaps 10\.255\.0\.0\/16, the encryption mesh/);
  // Everything of 10.0.0.0/8 below 10.255.0.0 taken: no /24 is left (10.255.0.0/16 is the mesh's).
  const taken = [9, 10, 11, 12, 13, 14, 15, 16].map((prefix, i) => ({
    base: (0x0a000000 + [0, 128, 192, 224, 240, 248, 252, 254][i]! * 0x10000) >>> 0,
    prefix,
  }));
  assert.equal(freeDefaultSubnet(taken), null);
});

test("a host's report that it failed to program a network is kept until it reports it programmed", async () => {
  const net = (await store.list([teamId])).find((n) => n.name === "sec")!;
  await store.reportStatus(hosts[1]!, { networkId: net.id, error: "bridge fdb show dev vx-x: Cannot find device" });
  assert.deepEqual(
    (await store.hostErrors(net.id)).map((h) => [h.host.name, h.error]),
    [["m2", "bridge fdb show dev vx-x: Cannot find device"]],
  );
  assert.equal((await store.get(net.id)).failingHosts, 1);
  await store.reportStatus(hosts[1]!, { networkId: net.id, error: null });
  assert.deepEqual(await store.hostErrors(net.id), []);
  // A network that is not of the host's team is not found.
  const e = await domainError(store.reportStatus(hosts[1]!, { networkId: "nope", error: "x" }));
  assert.equal(e.code, "NOT_FOUND");
});

test("a host's load balancer goes with its last container on a network, and comes back with the next", async () => {
  const net = (await store.list([teamId])).find((n) => n.name === "plain")!;
  const lbs = async () => (await db.overlayEndpoint.findMany({ where: { networkId: net.id, kind: "lb" } })).map((e) => e.hostId);
  assert.deepEqual(await lbs(), [hosts[0]]);
  await store.attach(hosts[0]!, { network: "plain", containerId: "c4", name: "c4", aliases: [], serving: true, vtep: "192.0.2.9" });
  await store.detach(hosts[0]!, { networkId: net.id, containerId: "c3" });
  assert.deepEqual(await lbs(), [hosts[0]], "c4 still runs there");
  await store.detach(hosts[0]!, { networkId: net.id, containerId: "c4" });
  assert.deepEqual(await lbs(), []);
  await store.attach(hosts[0]!, { network: "plain", containerId: "c5", name: "c5", aliases: [], serving: true, vtep: "192.0.2.9" });
  assert.deepEqual(await lbs(), [hosts[0]]);
});
