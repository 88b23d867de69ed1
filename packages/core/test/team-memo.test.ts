// What the leading reconciler keeps between passes: read once, amended with what it placed,
// forgotten on any other change, and never kept from a read that overlapped a change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ActiveCount, TeamMemo, withPlaced } from "../src/services/team-memo.ts";

/** A memo over a value the test controls, counting reads; `gate` holds a read open until released. */
function memo() {
  let value = 1;
  let reads = 0;
  let gate: Promise<void> | null = null;
  const m = new TeamMemo<number>(async () => {
    reads++;
    const v = value;
    if (gate) await gate;
    return v;
  });
  return {
    m,
    set: (v: number) => {
      value = v;
    },
    reads: () => reads,
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        gate = null;
        release();
      };
    },
  };
}

test("a team's value is read once and kept; forget makes the next use read again", async () => {
  const t = memo();
  assert.equal(await t.m.of("a"), 1);
  t.set(2);
  assert.equal(await t.m.of("a"), 1, "kept");
  assert.equal(t.reads(), 1);
  t.m.forget();
  assert.equal(await t.m.of("a"), 2);
  assert.equal(t.reads(), 2);
});

test("a read that overlapped a change is used once, not kept", async () => {
  const t = memo();
  const release = t.hold();
  const reading = t.m.of("a");
  t.m.forget(); // a task ended while the count was being read
  t.set(5);
  release();
  assert.equal(await reading, 1, "the caller gets what was read");
  assert.equal(await t.m.of("a"), 5, "but the next use reads again");
  assert.equal(t.reads(), 2);
});

test("amend changes only a kept value, and a read in flight meanwhile is not kept", async () => {
  const t = memo();
  t.m.amend("a", (v) => v + 10);
  assert.equal(await t.m.of("a"), 1, "nothing was kept to amend");
  t.m.amend("a", (v) => v + 10);
  assert.equal(await t.m.of("a"), 11);

  t.m.forget();
  await t.m.of("a");
  const release = t.hold();
  const reading = t.m.of("b");
  t.m.amend("a", (v) => v); // a placement on another team's kept value still bumps the generation
  release();
  await reading;
  t.set(7);
  assert.equal(await t.m.of("b"), 7, "b's overlapped read was not kept");
});

test("refresh reads kept and named teams again, and drops one whose read raced a change", async () => {
  const t = memo();
  await t.m.of("a");
  t.set(3);
  await t.m.refresh(["b"]);
  const before = t.reads();
  assert.equal(await t.m.of("a"), 3);
  assert.equal(await t.m.of("b"), 3);
  assert.equal(t.reads(), before, "both were kept by the refresh");

  const release = t.hold();
  const refreshing = t.m.refresh();
  t.m.forget();
  release();
  await refreshing;
  t.set(4);
  assert.equal(await t.m.of("a"), 4, "the raced refresh kept nothing");
});

test("withPlaced adds to a version's counts per host, and leaves other versions alone", () => {
  const counts: ActiveCount[] = [
    { hostId: "h1", serviceId: "s", version: 1, n: 2 },
    { hostId: "h1", serviceId: "s", version: 2, n: 1 },
  ];
  const next = withPlaced(
    counts,
    "s",
    2,
    new Map([
      ["h1", 2],
      ["h2", 1],
    ]),
  );
  assert.deepEqual(next, [
    { hostId: "h1", serviceId: "s", version: 1, n: 2 },
    { hostId: "h1", serviceId: "s", version: 2, n: 3 },
    { hostId: "h2", serviceId: "s", version: 2, n: 1 },
  ]);
  assert.equal(counts[1]!.n, 1, "the input is not changed");
});
