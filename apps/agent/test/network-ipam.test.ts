// IPAM: lowest free first, static addresses, reuse after release, exhaustion, and picking a
// default subnet that overlaps nothing on the host.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AddressPool, normalizePool, pickFreeSubnet } from "../src/network/ipam.ts";

test("addresses: the gateway is skipped, static ones are honoured, freed ones come back first", () => {
  const table: Record<string, string> = {};
  const pool = new AddressPool(normalizePool({ subnet: "10.9.0.0/29" }), table, "n1 (abc)");
  assert.equal(pool.config.gateway, "10.9.0.1");
  assert.equal(pool.allocate("a"), "10.9.0.2");
  assert.equal(pool.allocate("b"), "10.9.0.3");
  assert.equal(pool.allocate("c", "10.9.0.6"), "10.9.0.6");
  assert.throws(() => pool.allocate("d", "10.9.0.6"), { message: "Address already in use" });
  assert.throws(() => pool.allocate("d", "10.9.0.1"), { message: "Address already in use" }, "the gateway is taken");
  assert.throws(() => pool.allocate("d", "10.9.1.6"), {
    message: "Invalid address 10.9.1.6: It does not belong to any of this network's subnets",
  });
  assert.throws(() => pool.allocate("d", "10.9.0.7"), /does not belong/, "the broadcast address is never given");
  assert.equal(pool.allocate("d"), "10.9.0.4");
  assert.equal(pool.allocate("e"), "10.9.0.5");
  assert.throws(() => pool.allocate("f"), { message: "no available IPv4 addresses on this network's address pools: n1 (abc)" });
  pool.release("10.9.0.3");
  assert.equal(pool.allocate("f"), "10.9.0.3", "a freed address is reused");
  // The table is the record's: a new pool over it (an agent restart) sees the same allocations.
  const again = new AddressPool(pool.config, JSON.parse(JSON.stringify(table)) as Record<string, string>, "n1 (abc)");
  assert.equal(again.addressOf("c"), "10.9.0.6");
  assert.throws(() => again.allocate("g"), /no available IPv4 addresses/);
});

test("pool settings: gateway, ip-range, and clear errors", () => {
  assert.deepEqual(normalizePool({ subnet: "10.10.0.0/16", gateway: "10.10.0.254", ipRange: "10.10.5.0/24" }), {
    subnet: "10.10.0.0/16",
    gateway: "10.10.0.254",
    ipRange: "10.10.5.0/24",
  });
  const pool = new AddressPool(normalizePool({ subnet: "10.10.0.0/16", ipRange: "10.10.5.0/24" }), {}, "n");
  assert.equal(pool.allocate("a"), "10.10.5.0", "dynamic addresses come from the range");
  assert.equal(pool.allocate("b", "10.10.0.9"), "10.10.0.9", "static ones from anywhere in the subnet");
  assert.throws(() => normalizePool({ subnet: "10.10.0.1/16" }), /host bits set \(did you mean 10\.10\.0\.0\/16\?\)/);
  assert.throws(() => normalizePool({ subnet: "10.10.0.0/16", gateway: "10.11.0.1" }), {
    message: "no matching subnet for gateway 10.11.0.1",
  });
  assert.throws(() => normalizePool({ subnet: "10.10.0.0/16", ipRange: "10.12.0.0/24" }), {
    message: "no matching subnet for range 10.12.0.0/24",
  });
  assert.throws(() => normalizePool({ subnet: "nonsense" }), { message: "invalid CIDR address: nonsense" });
});

test("default subnets skip what the host and other networks use", () => {
  assert.equal(pickFreeSubnet([]), "172.17.0.0/16");
  assert.equal(pickFreeSubnet(["172.16.0.0/12"]), "192.168.0.0/20");
  assert.equal(pickFreeSubnet(["172.17.5.0/24", "172.18.0.0/16"]), "172.19.0.0/16");
  assert.throws(() => pickFreeSubnet(["0.0.0.0/0"]), /could not find an available, non-overlapping IPv4 address pool/);
});

test("IPv6 pools: canonical addresses, the gateway and the network address skipped, no broadcast, static ones honoured", () => {
  const table: Record<string, string> = {};
  const cfg = normalizePool({ subnet: "2001:389::/64", ipRange: "2001:389::0/96", gateway: "2001:389::ffff" });
  assert.deepEqual(cfg, { subnet: "2001:389::/64", gateway: "2001:389::ffff", ipRange: "2001:389::/96" });
  const pool = new AddressPool(cfg, table, "n6");
  assert.equal(pool.family, 6);
  assert.equal(pool.allocate("a"), "2001:389::1", "the subnet's first address is free when the gateway is elsewhere");
  assert.equal(pool.allocate("b", "2001:389:0:0::F00D"), "2001:389::f00d", "static addresses are stored canonically");
  assert.throws(() => pool.allocate("c", "2001:389::f00d"), { message: "Address already in use" });
  assert.throws(() => pool.allocate("c", "2001:389::ffff"), { message: "Address already in use" }, "the gateway");
  assert.throws(() => pool.allocate("c", "2001:389::"), /does not belong/, "the network address");
  assert.throws(() => pool.allocate("c", "10.0.0.1"), { message: "invalid IPv6 address: 10.0.0.1" });
  assert.equal(new AddressPool(normalizePool({ subnet: "fd00:1::/126" }), {}, "tiny").allocate("x"), "fd00:1::2");
  // A v4 pool over the same table (a dual-stack network) sees only its own family.
  const v4 = new AddressPool(normalizePool({ subnet: "10.9.0.0/29" }), table, "n4");
  v4.allocate("a");
  assert.equal(pool.addressOf("a"), "2001:389::1");
  assert.equal(v4.addressOf("a"), "10.9.0.2");
  assert.throws(() => normalizePool({ subnet: "fd00::/127" }), /needs at least a \/126/);
  assert.throws(() => normalizePool({ subnet: "fd00::1/64" }), /host bits set \(did you mean fd00::\/64\?\)/);
  assert.throws(() => normalizePool({ subnet: "fd00::/64", gateway: "10.0.0.1" }), { message: "no matching subnet for gateway 10.0.0.1" });
});

test("auxiliary addresses: reserved (never handed out, refused as static ones), checked against the subnet with dockerd's messages", () => {
  const cfg = normalizePool(
    { subnet: "172.28.0.0/16", ipRange: "172.28.5.0/24", gateway: "172.28.5.254", auxAddresses: { a: "172.28.5.0", b: "172.28.1.6" } },
    "net",
  );
  assert.deepEqual(cfg.auxAddresses, { a: "172.28.5.0", b: "172.28.1.6" });
  const pool = new AddressPool(cfg, {}, "net");
  assert.equal(pool.allocate("x"), "172.28.5.1", "172.28.5.0 is an aux address");
  assert.throws(() => pool.allocate("y", "172.28.1.6"), { message: "Address already in use" });
  const v6 = new AddressPool(normalizePool({ subnet: "fd00:7::/64", auxAddresses: { r: "fd00:7::2" } }), {}, "n");
  assert.equal(v6.allocate("x"), "fd00:7::3");
  assert.throws(() => normalizePool({ subnet: "10.1.0.0/24", auxAddresses: { a: "10.2.0.1" } }), {
    message: "auxiliary address: (a:10.2.0.1) must belong to the master pool: 10.1.0.0/24",
  });
  assert.throws(() => normalizePool({ subnet: "10.1.0.0/24", auxAddresses: { a: "nope" } }, "net"), {
    message: "non parsable secondary ip address (a:nope) passed for network net",
  });
  assert.throws(() => normalizePool({ subnet: "10.1.0.0/24", auxAddresses: { a: "10.1.0.1" } }), {
    message: "failed to allocate secondary ip address (a:10.1.0.1): Address already in use",
  });
});
