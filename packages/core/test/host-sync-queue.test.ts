// The reconciler's host syncs: bounded, coalesced per host, and a large fleet walked in slices.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostSyncQueue } from "../src/services/host-sync-queue.ts";

const tick = () => new Promise((r) => setImmediate(r));

test("at most N syncs run at once; a sync queued for a host is joined, not repeated", async () => {
  const q = new HostSyncQueue(2);
  let running = 0;
  let peak = 0;
  const ran: string[] = [];
  const releases: Array<() => void> = [];
  const job = (id: string) => async () => {
    running++;
    peak = Math.max(peak, running);
    ran.push(id);
    await new Promise<void>((r) => releases.push(r));
    running--;
  };
  const all = ["a", "b", "c", "d"].map((id) => q.run(id, job(id)));
  const joined = q.run("d", job("d-again")); // d is still queued: joined
  await tick();
  assert.deepEqual(ran, ["a", "b"]);
  while (releases.length) {
    releases.shift()!();
    await tick();
    await tick();
  }
  await Promise.all([...all, joined]);
  assert.equal(peak, 2);
  assert.deepEqual(ran, ["a", "b", "c", "d"]);
  // A failing sync rejects its callers and frees its slot.
  await assert.rejects(
    q.run("e", async () => Promise.reject(new Error("agent gone"))),
    /agent gone/,
  );
  await q.run("f", async () => {});
});

test("a small fleet is synced whole at each resync; a large one in slices, least recently synced first", async () => {
  const q = new HostSyncQueue(4);
  const small = ["h1", "h2", "h3"];
  assert.deepEqual(q.due(small, 6, 16), small);
  const large = Array.from({ length: 60 }, (_, i) => `h${i}`);
  const seen = new Set<string>();
  for (let pass = 0; pass < 6; pass++) {
    const due = q.due(large, 6, 16);
    assert.equal(due.length, 10);
    await Promise.all(due.map((id) => q.run(id, async () => {})));
    for (const id of due) seen.add(id);
    await new Promise((r) => setTimeout(r, 2)); // distinct sync times
  }
  assert.equal(seen.size, 60, "every host is seen within six passes");
});
