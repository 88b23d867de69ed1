import { after, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Snapshotter } from "../src/snapshots/snapshotter.ts";
import { SnapshotExistsError, SnapshotInUseError, SnapshotNotFoundError, SnapshotStateError } from "../src/snapshots/errors.ts";
import type { LayerUnpacker } from "../src/images/unpacker.ts";

const base = mkdtempSync(join(tmpdir(), "berth-snapshotter-"));
after(() => rmSync(base, { recursive: true, force: true }));

test("prepare/commit/view chains give lowerdir newest first", async () => {
  const root = join(base, "chain");
  const sn = new Snapshotter(root);
  const fs = async (key: string) => join(root, "snapshots", (await sn.stat(key)).id, "fs");

  assert.deepEqual(await sn.prepare("a-active"), [{ type: "bind", source: join(root, "snapshots/1/fs"), options: ["rw", "rbind"] }]);
  await sn.commit("A", "a-active");
  await assert.rejects(sn.stat("a-active"), SnapshotNotFoundError);
  assert.equal((await sn.stat("A")).kind, "committed");

  const bMounts = await sn.prepare("b-active", "A");
  assert.deepEqual(bMounts, [
    {
      type: "overlay",
      source: "overlay",
      options: [`workdir=${join(root, "snapshots/2/work")}`, `upperdir=${join(root, "snapshots/2/fs")}`, `lowerdir=${await fs("A")}`],
    },
  ]);
  await sn.commit("B", "b-active");

  const c = await sn.prepare("c", "B");
  assert.equal(c[0]?.options.at(-1), `lowerdir=${await fs("B")}:${await fs("A")}`);
  assert.deepEqual(await sn.mounts("c"), c);

  // Views: one layer is a read-only bind of it, more layers a read-only overlay without upperdir.
  assert.deepEqual(await sn.view("vA", "A"), [{ type: "bind", source: await fs("A"), options: ["ro", "rbind"] }]);
  assert.deepEqual(await sn.view("vB", "B"), [
    { type: "overlay", source: "overlay", options: ["ro", `lowerdir=${await fs("B")}:${await fs("A")}`] },
  ]);

  await assert.rejects(sn.mounts("A"), SnapshotStateError, "a committed snapshot is not mounted directly");
  assert.deepEqual((await sn.list()).map((i) => [i.key, i.kind, i.parent ?? null]).sort(), [
    ["A", "committed", null],
    ["B", "committed", "A"],
    ["c", "active", "B"],
    ["vA", "view", "A"],
    ["vB", "view", "B"],
  ]);
});

test("remove refuses a parent with children, then works bottom-up", async () => {
  const root = join(base, "remove");
  const sn = new Snapshotter(root);
  await sn.prepare("a");
  await sn.commit("A", "a");
  await sn.prepare("b", "A");
  await sn.commit("B", "b");
  await sn.view("v", "B");

  await assert.rejects(sn.remove("A"), (err: unknown) => err instanceof SnapshotInUseError && /"A" has children \(B\)/.test(err.message));
  await assert.rejects(sn.remove("B"), SnapshotInUseError);
  const idB = (await sn.stat("B")).id;
  await sn.remove("v");
  await sn.remove("B");
  assert.equal(existsSync(join(root, "snapshots", idB)), false, "the layer directory is gone");
  await sn.remove("A");
  assert.deepEqual(await sn.list(), []);
  await assert.rejects(sn.remove("A"), SnapshotNotFoundError);
});

test("invalid operations are refused with typed errors", async () => {
  const sn = new Snapshotter(join(base, "invalid"));
  await sn.prepare("a");
  await assert.rejects(sn.prepare("a"), SnapshotExistsError);
  await assert.rejects(sn.prepare("b", "a"), SnapshotStateError, "an active snapshot cannot be a parent");
  await assert.rejects(sn.prepare("b", "nope"), SnapshotNotFoundError);
  await sn.commit("A", "a");
  await sn.view("v", "A");
  await assert.rejects(sn.commit("V", "v"), SnapshotStateError, "views are not committed");
  await sn.prepare("x", "A");
  await assert.rejects(sn.commit("A", "x"), SnapshotExistsError);
  await assert.rejects(sn.upperDir("A"), SnapshotStateError);
  assert.throws(() => new Snapshotter(join(base, "bad,root")), /must not contain/);
});

test("metadata survives a new Snapshotter on the same root; orphans are cleaned up", async () => {
  const root = join(base, "persist");
  const first = new Snapshotter(root);
  await first.prepare("a");
  await first.commit("A", "a");
  await first.prepare("b", "A");
  const mounts = await first.mounts("b");
  const listing = await first.list();

  const second = new Snapshotter(root);
  assert.deepEqual(await second.list(), listing);
  assert.deepEqual(await second.mounts("b"), mounts);
  await assert.rejects(second.remove("A"), SnapshotInUseError);
  // New ids continue after the old ones rather than reusing a live directory.
  await second.prepare("c", "A");
  assert.notEqual((await second.stat("c")).id, (await second.stat("b")).id);

  mkdirSync(join(root, "snapshots", "99", "fs"), { recursive: true });
  assert.deepEqual(await second.cleanup(), ["99"]);
  assert.deepEqual(readdirSync(join(root, "snapshots")).sort(), ["1", "2", "3"]);
});

test("changes are journalled, folded into the checkpoint, and a torn last line is dropped", async () => {
  const root = join(base, "journal");
  const first = new Snapshotter(root);
  await first.prepare("a");
  await first.commit("A", "a");
  const journal = join(root, "metadata.journal");
  // Two changes, two lines: the commit's delete and set are one line, applied together.
  assert.equal(readFileSync(journal, "utf8").trimEnd().split("\n").length, 2);

  // An append cut short by a crash: never acknowledged, so it is dropped, and later appends start clean.
  appendFileSync(journal, '{"n":9,"c":[["ghost",{"id":"8","ki');
  const second = new Snapshotter(root);
  assert.deepEqual(
    (await second.list()).map((s) => s.key),
    ["A"],
  );
  await second.prepare("b", "A");
  assert.deepEqual((await new Snapshotter(root).list()).map((s) => s.key).sort(), ["A", "b"]);

  // Hundreds of containers come and go: the journal is folded into metadata.json and stays short.
  for (let i = 0; i < 300; i++) {
    await second.prepare(`c${i}`, "A");
    await second.remove(`c${i}`);
  }
  await second.settled();
  assert.ok(readFileSync(journal, "utf8").split("\n").length < 520);
  const third = new Snapshotter(root);
  assert.deepEqual((await third.list()).map((s) => s.key).sort(), ["A", "b"]);
  await third.prepare("d", "A");
  assert.equal((await third.stat("d")).id, "303", "ids keep counting past every journalled one");
});
test("commit records the layer size", async () => {
  const { writeFileSync, linkSync } = await import("node:fs");
  const sn = new Snapshotter(join(base, "size"));
  await sn.prepare("a");
  const upper = await sn.upperDir("a");
  writeFileSync(join(upper, "f"), Buffer.alloc(1000));
  linkSync(join(upper, "f"), join(upper, "g"));
  mkdirSync(join(upper, "d"));
  writeFileSync(join(upper, "d", "h"), "12345");
  await sn.commit("A", "a");
  assert.equal((await sn.stat("A")).size, 1005);
});

test("images/ SnapshotUnpacker on this snapshotter commits a layer only after verify passes", async () => {
  const { SnapshotUnpacker } = await import("../src/images/snapshot-unpacker.ts");
  const { tarStream } = await import("./snapshots-tar.ts");
  const { unpackLayer } = await import("../src/snapshots/index.ts");
  const fill =
    (entries: Parameters<typeof tarStream>[0], verify: () => void = () => undefined) =>
    async (dir: string) => {
      await unpackLayer(tarStream(entries), dir);
      verify();
    };
  const sn = new Snapshotter(join(base, "unpacker"));
  const unpacker: LayerUnpacker = new SnapshotUnpacker(sn);
  assert.equal(await unpacker.has("sha256:one"), false);
  assert.deepEqual(await unpacker.apply("sha256:one", null, fill([{ path: "f", data: "12345" }])), { size: 5 });
  assert.equal(await unpacker.has("sha256:one"), true);

  await assert.rejects(
    unpacker.apply(
      "sha256:two",
      "sha256:one",
      fill([{ path: "g", data: "x" }], () => {
        throw new Error("diff id mismatch");
      }),
    ),
    /diff id mismatch/,
  );
  assert.equal(await unpacker.has("sha256:two"), false);
  await assert.rejects(unpacker.apply("sha256:bad", "sha256:one", fill([{ path: "../g", data: "x" }])), /"\.\.\/g"/);
  assert.deepEqual(
    (await sn.list()).map((i) => i.key),
    ["sha256:one"],
    "failed extractions leave no snapshot behind",
  );
  // Removed snapshots' directories are deleted in the background; settled() waits for that.
  await sn.settled();
  assert.deepEqual(readdirSync(join(sn.root, "snapshots")), ["1"]);

  await unpacker.apply("sha256:two", "sha256:one", fill([{ path: "g", data: "x" }]));
  assert.deepEqual(await unpacker.children("sha256:one"), ["sha256:two"]);
  await assert.rejects(unpacker.remove("sha256:one"), SnapshotInUseError);
  await unpacker.remove("sha256:two");
  await unpacker.remove("sha256:one");
});
