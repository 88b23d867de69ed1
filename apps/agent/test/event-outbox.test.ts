import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLog } from "../src/containers/events.ts";
import { EventOutbox } from "../src/containers/event-outbox.ts";

const scratch = () => mkdtempSync(join(tmpdir(), "berth-outbox-"));

test("unacknowledged events survive a restart, numbered on from where they stopped", () => {
  const dir = scratch();
  try {
    const box = EventOutbox.open(dir);
    const log = new EventLog(100, box.lastSeq);
    box.attach(log);
    for (let i = 0; i < 5; i++) log.emit("container", "die", `c${i}`);
    box.ack(box.id, 2);
    const again = EventOutbox.open(dir);
    assert.equal(again.id, box.id);
    assert.equal(again.lastSeq, 5);
    assert.deepEqual(
      again.since(2, again.id).events.map((e) => e.seq),
      [3, 4, 5],
    );
    // A reader that has 4 gets 5; one of another numbering gets all that is kept.
    assert.deepEqual(
      again.since(4, again.id).events.map((e) => e.seq),
      [5],
    );
    assert.deepEqual(
      again.since(9, "another").events.map((e) => e.seq),
      [3, 4, 5],
    );
    const next = new EventLog(100, again.lastSeq);
    again.attach(next);
    assert.equal(next.emit("container", "start", "c9").seq, 6);
    // A stale or foreign acknowledgement changes nothing.
    again.ack("another", 6);
    again.ack(again.id, 1);
    assert.equal(again.size, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the store is bounded: the oldest go, and a replay counts them as a gap", () => {
  const dir = scratch();
  try {
    const box = EventOutbox.open(dir, { maxEvents: 10 });
    const log = new EventLog(100, box.lastSeq);
    box.attach(log);
    for (let i = 0; i < 25; i++) log.emit("container", "die", `c${i}`);
    const kept = box.since(0, box.id);
    assert.deepEqual(
      kept.events.map((e) => e.seq),
      [16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
    );
    assert.equal(kept.gap, 15);
    assert.equal(box.since(5, box.id).gap, 10);
    box.ack(box.id, 25);
    assert.deepEqual(box.since(25, box.id), { events: [], gap: 0 });
    // Thousands acknowledged: the file is rewritten, and what is left reads back.
    for (let i = 0; i < 3000; i++) log.emit("container", "start", `d${i}`);
    box.ack(box.id, 3020);
    const back = EventOutbox.open(dir, { maxEvents: 10 });
    assert.deepEqual(
      back.since(3020, back.id).events.map((e) => e.seq),
      [3021, 3022, 3023, 3024, 3025],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("with no acknowledgement for long, the file stays bounded too", () => {
  const dir = scratch();
  try {
    const box = EventOutbox.open(dir, { maxEvents: 100 });
    const log = new EventLog(100, box.lastSeq);
    box.attach(log);
    for (let i = 0; i < 10_000; i++) log.emit("container", "die", `c${i}`);
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8").split("\n").filter(Boolean).length;
    assert.ok(lines <= 2_200, `${lines} lines in the file`);
    assert.deepEqual(
      EventOutbox.open(dir, { maxEvents: 100 })
        .since(0, box.id)
        .events.map((e) => e.seq),
      Array.from({ length: 100 }, (_, i) => 9_901 + i),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
