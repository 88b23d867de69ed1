// Lab: events are never lost. A host's cable is cut (its veth goes down) while one of its
// containers dies and is started again 20 times, through the agent's own Docker socket; the
// cable is plugged back in. The agent kept the events on disk and sends them after re-linking;
// the control plane keeps each once: a webhook receiver gets all 20 die events, once each and in
// order, each with its stable event id, and the events feed (the events page) shows them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StreamClient } from "@berth/cli/streams";
import { waitFor } from "@berth/test-support/wait";
import { startLabHost, type LabHostSetup } from "../support/lab-host.ts";

let setup: LabHostSetup;
let receiver: Server;
const got: Array<{ delivery: string; data: { eventId: string; seq: number; container: { name: string } } }> = [];

before(async () => {
  setup = await startLabHost("events-relink@example.com");
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      const parsed = JSON.parse(body) as { event: string; data: (typeof got)[number]["data"] };
      if (parsed.event === "container.die") got.push({ delivery: String(req.headers["x-berth-delivery"]), data: parsed.data });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
});

after(async () => {
  await new Promise((r) => receiver?.close(r));
  await setup?.stop();
});

/** A call on the agent's own Docker socket (what a local `docker` would do while the host is cut off). */
function local(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(setup.stateDir, "docker.sock"), method, path, timeout: 30_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

test("events that happen while a host is cut off arrive after it re-links, once each and in order", { timeout: 240_000 }, async () => {
  const { owner, teamId, hostId, t, lab, host } = setup;
  await owner.trpc.webhooks.setAllowlist.mutate({ teamId, entries: ["127.0.0.1"] });
  await owner.trpc.webhooks.create.mutate({
    teamId,
    name: "dies",
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
    events: ["container.die"],
  });
  await owner.trpc.images.pull.mutate({ hostId, reference: "busybox" });
  await owner.trpc.containers.run.mutate({ hostId, name: "flapper", config: { Image: "busybox", Cmd: ["sleep", "3600"] } });

  await lab.cut(host);
  try {
    await waitFor(
      "the host seen offline",
      async () => (await owner.trpc.hosts.get.query({ id: hostId })).status === "offline",
      30_000,
      250,
    );
    for (let i = 0; i < 20; i++) {
      assert.equal(await local("POST", "/containers/flapper/kill"), 204, `kill ${i + 1}`);
      assert.equal(await local("POST", "/containers/flapper/start"), 204, `start ${i + 1}`);
    }
    // Nothing reached the control plane while the cable was out.
    assert.equal(got.length, 0);
  } finally {
    await lab.restore(host);
  }

  await waitFor("all 20 die events delivered", () => got.filter((g) => g.data.container.name === "flapper").length >= 20, 60_000, 100);
  // Time for a repeat to show, were any sent twice.
  await sleep(3_000);
  const dies = got.filter((g) => g.data.container.name === "flapper");
  assert.equal(dies.length, 20, "each die once");
  assert.equal(new Set(dies.map((d) => d.data.eventId)).size, 20, "20 distinct event ids");
  assert.equal(new Set(dies.map((d) => d.delivery)).size, 20, "20 distinct delivery ids");
  const seqs = dies.map((d) => d.data.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    "in the order they happened",
  );
  assert.equal(await t.cp.db.hostEvent.count({ where: { hostId, action: "die", actorId: { not: "" } } }), 20, "kept once each");

  // The events page's feed opens with the kept events: the 20 dies are there.
  const feed = new StreamClient({
    url: t.url,
    kind: "events",
    hostId: "",
    headers: { cookie: owner.cookie, origin: new URL(t.url).origin },
    rejectUnauthorized: false,
  });
  const shown = new Set<number>();
  for await (const m of feed) {
    for (const e of m.events) if (e.Actor.Attributes.name === "flapper" && e.Action === "die") shown.add(e.seq);
    if (shown.size >= 20) break;
  }
  assert.deepEqual(
    [...shown].sort((a, b) => a - b),
    seqs,
  );
});
