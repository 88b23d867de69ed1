// The embedded DNS on its own, on loopback (no lab needed): it answers clients inside its
// network's subnet only, caps the queries it forwards per network (SERVFAIL at once past the cap),
// and takes a forwarded answer only from the upstream it asked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { connect, createServer } from "node:net";
import * as packet from "dns-packet";
import { EmbeddedDns } from "../src/network/dns.ts";

/** A port free on 127.0.0.1 right now (for the DNS's UDP and TCP listeners). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

function bound(address: string): Promise<Socket> {
  const s = createSocket("udp4");
  return new Promise((resolve) => s.bind(0, address, () => resolve(s)));
}

const encode = (id: number, name: string, type: "A" | "AAAA" = "A") =>
  packet.encode({ type: "query", id, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] });

/** Sends `name`'s query from `from` to the DNS; its reply (rcode, A records, time taken) or null after `waitMs`. */
async function ask(
  from: string,
  server: string,
  port: number,
  name: string,
  waitMs = 700,
  type: "A" | "AAAA" = "A",
): Promise<{ rcode: number; answers: string[]; ms: number } | null> {
  const s = await bound(from);
  try {
    const started = Date.now();
    const reply = new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), waitMs);
      s.on("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    s.send(encode(0x1234, name, type), port, server);
    const m = await reply;
    if (!m) return null;
    const p = packet.decode(m);
    // The low four bits of the flags: 0 NOERROR, 2 SERVFAIL.
    return {
      rcode: (p.flags ?? 0) & 0xf,
      answers: (p.answers ?? []).flatMap((a) => (a.type === "A" || a.type === "AAAA" ? [a.data] : [])),
      ms: Date.now() - started,
    };
  } finally {
    s.close();
  }
}

/** The same over TCP: the reply, or null when the server closes the connection without one. */
async function askTcp(from: string, server: string, port: number, name: string): Promise<string[] | null> {
  return new Promise((resolve, reject) => {
    const c = connect({ host: server, port, localAddress: from });
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error("no reply and no close within 2 s"));
    }, 2000);
    let buf = Buffer.alloc(0);
    c.on("connect", () => {
      const q = encode(0x4321, name);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      c.write(Buffer.concat([len, q]));
    });
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        c.destroy();
        const p = packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        resolve((p.answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : [])));
      }
    });
    c.on("error", () => undefined);
    c.on("close", () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

/** An upstream that records every query and answers none. */
async function blackhole(): Promise<{ sock: Socket; port: number; seen: Array<{ id: number; port: number }> }> {
  const sock = await bound("127.0.0.1");
  const seen: Array<{ id: number; port: number }> = [];
  sock.on("message", (m, r) => seen.push({ id: m.readUInt16BE(0), port: r.port }));
  return { sock, port: sock.address().port, seen };
}

const until = async (what: () => boolean, ms = 2000) => {
  for (let t = 0; t < ms && !what(); t += 20) await new Promise((r) => setTimeout(r, 20));
};

test("answers clients inside its network's subnet only, over UDP and TCP", async () => {
  const port = await freePort();
  const asked: string[] = [];
  const dns = new EmbeddedDns(
    (_net, name, from) => {
      asked.push(from);
      return name === "web" ? { v4: ["10.0.0.5"], v6: [] } : null;
    },
    () => [],
    { port },
  );
  try {
    // The network 127.0.0.0/29 with its "gateway" on 127.0.0.1; 127.0.0.9 is outside it.
    await dns.listen("net1", "127.0.0.1", "127.0.0.0/29");
    assert.deepEqual(await ask("127.0.0.2", "127.0.0.1", port, "web").then((r) => r && { rcode: r.rcode, answers: r.answers }), {
      rcode: 0,
      answers: ["10.0.0.5"],
    });
    assert.deepEqual(asked, ["127.0.0.2"], "the resolver is told who asks");
    assert.equal(await ask("127.0.0.9", "127.0.0.1", port, "web"), null, "outside the subnet: no answer at all");
    assert.deepEqual(await askTcp("127.0.0.2", "127.0.0.1", port, "web"), ["10.0.0.5"]);
    assert.equal(await askTcp("127.0.0.9", "127.0.0.1", port, "web"), null, "outside the subnet over TCP: closed unanswered");
    assert.deepEqual(asked, ["127.0.0.2", "127.0.0.2"], "questions from outside never reach the resolver");
  } finally {
    dns.closeAll();
  }
});

test("forwarded queries are capped per network: past the cap, SERVFAIL at once; capacity comes back", async () => {
  const port = await freePort();
  const up = await blackhole();
  const dns = new EmbeddedDns(
    () => null,
    () => [`127.0.0.1:${up.port}`],
    { port, maxForwards: 3, forwardTimeoutMs: 1500 },
  );
  try {
    await dns.listen("net1", "127.0.0.1", "127.0.0.0/29");
    await dns.listen("net2", "127.0.0.17", "127.0.0.16/29");
    // Three unknown names in flight on net1: all forwarded, none answered yet.
    const pending = [1, 2, 3].map((i) => ask("127.0.0.2", "127.0.0.1", port, `slow${i}.test`, 3000));
    await until(() => up.seen.length === 3);
    assert.equal(up.seen.length, 3);
    // The fourth: SERVFAIL at once, and never forwarded.
    const fourth = await ask("127.0.0.2", "127.0.0.1", port, "slow4.test");
    assert.ok(fourth, "the fourth query is answered");
    assert.equal(fourth.rcode, 2, "SERVFAIL");
    assert.ok(fourth.ms < 300, `answered in ${fourth.ms} ms, not after the upstream timeout`);
    assert.equal(up.seen.length, 3, "the fourth did not go upstream");
    // Another network has its own allowance.
    const other = ask("127.0.0.18", "127.0.0.17", port, "other.test", 3000);
    await until(() => up.seen.length === 4);
    assert.equal(up.seen.length, 4, "net2 still forwards while net1 is full");
    // The three time out (SERVFAIL), and net1 forwards again.
    for (const r of await Promise.all(pending)) assert.equal(r?.rcode, 2, "SERVFAIL after the upstream timeout");
    const again = ask("127.0.0.2", "127.0.0.1", port, "later.test", 3000);
    await until(() => up.seen.length === 5);
    assert.equal(up.seen.length, 5, "net1 forwards again once its queries are done");
    await Promise.all([other, again]);
  } finally {
    dns.closeAll();
    up.sock.close();
  }
});

test("a forwarded query takes its answer from the upstream it asked, not from a stray sender", async () => {
  const port = await freePort();
  const up = await blackhole();
  const stray = await bound("127.0.0.1");
  const dns = new EmbeddedDns(
    () => null,
    () => [`127.0.0.1:${up.port}`],
    { port, forwardTimeoutMs: 2000 },
  );
  try {
    await dns.listen("net1", "127.0.0.1", "127.0.0.0/29");
    const reply = ask("127.0.0.2", "127.0.0.1", port, "outside.test", 3000);
    await until(() => up.seen.length === 1);
    const q = up.seen[0]!;
    const answer = (data: string) =>
      packet.encode({
        type: "response",
        id: q.id,
        flags: packet.RECURSION_AVAILABLE,
        questions: [{ type: "A", name: "outside.test" }],
        answers: [{ type: "A", name: "outside.test", ttl: 60, data }],
      });
    // A forged answer from another port first, then the upstream's own.
    stray.send(answer("6.6.6.6"), q.port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 100));
    up.sock.send(answer("10.1.2.3"), q.port, "127.0.0.1");
    assert.deepEqual((await reply)?.answers, ["10.1.2.3"]);
  } finally {
    dns.closeAll();
    up.sock.close();
    stray.close();
  }
});

test("AAAA: a name's v6 addresses on an IPv6 network; an empty answer (NOERROR) for a name with IPv4 only; NXDOMAIN for none", async () => {
  const port = await freePort();
  const names: Record<string, { v4: string[]; v6: string[] }> = {
    dual: { v4: ["10.0.0.5"], v6: ["fd00:1::5"] },
    plain: { v4: ["10.0.0.6"], v6: [] },
  };
  // An unknown name goes upstream; this one says NXDOMAIN.
  const up = await bound("127.0.0.1");
  up.on("message", (m, r) => {
    const q = packet.decode(m);
    up.send(packet.encode({ type: "response", id: q.id, flags: 3, questions: q.questions ?? [] }), r.port, r.address);
  });
  const dns = new EmbeddedDns(
    (_net, name) => names[name] ?? null,
    () => [`127.0.0.1:${up.address().port}`],
    { port },
  );
  try {
    await dns.listen("net1", "127.0.0.1", "127.0.0.0/29");
    const q = async (name: string, type: "A" | "AAAA") => {
      const r = await ask("127.0.0.2", "127.0.0.1", port, name, 1500, type);
      return r && { rcode: r.rcode, answers: r.answers };
    };
    assert.deepEqual(await q("dual", "AAAA"), { rcode: 0, answers: ["fd00:1::5"] });
    assert.deepEqual(await q("dual", "A"), { rcode: 0, answers: ["10.0.0.5"] });
    assert.deepEqual(await q("plain", "AAAA"), { rcode: 0, answers: [] }, "NODATA: the name exists");
    assert.deepEqual(await q("nosuch", "AAAA"), { rcode: 3, answers: [] }, "NXDOMAIN from upstream for a name nobody has");
  } finally {
    dns.closeAll();
    up.close();
  }
});
