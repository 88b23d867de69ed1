import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Parser, type ReadEntry } from "tar";
import { Snapshotter } from "../src/snapshots/snapshotter.ts";
import { unpackLayer } from "../src/snapshots/unpack.ts";
import { diffLayer } from "../src/snapshots/diff.ts";
import { mountAll, unmount } from "../src/mount/mount.ts";
import { setMountHelper } from "../src/mount/syscall-helper.ts";
import { getXattr } from "../src/mount/xattr.ts";
import { tarStream } from "./snapshots-tar.ts";

// Real overlay mounts need root (and a kernel with overlayfs).
const skip = process.geteuid?.() !== 0 && "needs root to mount overlayfs";

const base = mkdtempSync(join(tmpdir(), "berth-overlay-"));
const mounted: string[] = [];
after(async () => {
  for (const m of mounted.reverse()) await unmount(m, { detach: true });
  rmSync(base, { recursive: true, force: true });
});

async function withMount<T>(mounts: Parameters<typeof mountAll>[0], fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(base, "mnt-"));
  await mountAll(mounts, dir);
  mounted.push(dir);
  try {
    return await fn(dir);
  } finally {
    await unmount(dir);
    mounted.splice(mounted.indexOf(dir), 1);
  }
}

async function tarEntries(stream: Readable): Promise<{ path: string; type: string; size: number }[]> {
  const out: { path: string; type: string; size: number }[] = [];
  const parser = new Parser({ strict: true });
  parser.on("entry", (e: ReadEntry) => {
    out.push({ path: e.path, type: e.type, size: e.size });
    e.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on("end", () => resolve());
    parser.on("error", reject);
    stream.on("error", reject);
  });
  stream.pipe(parser);
  await done;
  return out;
}

const layer1 = () =>
  tarStream([
    { path: "a/", type: "5" },
    { path: "a/file1", data: "one" },
    { path: "a/file2", data: "two" },
    { path: "b/", type: "5" },
    { path: "b/x", data: "x" },
  ]);

const layer2 = () =>
  tarStream(
    [
      { path: "a/", type: "5" },
      { path: "a/.wh.file1", data: "" },
      { path: "b/", type: "5" },
      { path: "b/.wh..wh..opq", data: "" },
      { path: "b/y", data: "y" },
    ],
    { gzip: true },
  );

async function applyLayer(sn: Snapshotter, name: string, parent: string | undefined, layer: Readable): Promise<void> {
  const key = `extract-${name}`;
  await sn.prepare(key, parent);
  await unpackLayer(layer, await sn.upperDir(key));
  await sn.commit(name, key);
}

test("whiteouts and opaque directories hide lower files in a real overlay mount; diff gives them back", { skip }, async () => {
  const sn = new Snapshotter(join(base, "snaps"));
  await applyLayer(sn, "L1", undefined, layer1());
  await applyLayer(sn, "L2", "L1", layer2());

  const upper2 = join(sn.root, "snapshots", (await sn.stat("L2")).id, "fs");
  const wh = lstatSync(join(upper2, "a/file1"));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, "a/.wh.file1 became a 0/0 char device");
  assert.equal((await getXattr(join(upper2, "b"), "trusted.overlay.opaque"))?.toString(), "y");

  const view = await sn.view("top", "L2");
  assert.equal(view[0]?.type, "overlay");
  await withMount(view, (dir) => {
    assert.equal(existsSync(join(dir, "a/file1")), false, "a/file1 is whited out");
    assert.equal(readFileSync(join(dir, "a/file2"), "utf8"), "two");
    assert.equal(existsSync(join(dir, "b/x")), false, "opaque b hides b/x");
    assert.equal(readFileSync(join(dir, "b/y"), "utf8"), "y");
    assert.deepEqual(readdirSync(join(dir, "b")), ["y"]);
    assert.throws(() => writeFileSync(join(dir, "new"), "x"), /EROFS/, "a view is read-only");
  });

  // A single-layer view is a read-only bind of that layer.
  await sn.view("bottom", "L1");
  await withMount(await sn.mounts("bottom"), (dir) => {
    assert.deepEqual(readdirSync(join(dir, "a")).sort(), ["file1", "file2"]);
    assert.throws(() => writeFileSync(join(dir, "new"), "x"), /EROFS/);
  });

  const entries = await tarEntries(diffLayer(upper2));
  const paths = entries.map((e) => e.path);
  assert.deepEqual(paths, ["a/", "a/.wh.file1", "b/", "b/.wh..wh..opq", "b/y"]);
  assert.equal(entries.find((e) => e.path === "a/.wh.file1")?.type, "File");
  assert.equal(entries.find((e) => e.path === "a/.wh.file1")?.size, 0);

  // Round trip: the diff unpacks into the same whiteouts.
  const again = join(base, "again");
  mkdirSync(again);
  await unpackLayer(diffLayer(upper2), again);
  assert.ok(lstatSync(join(again, "a/file1")).isCharacterDevice());
  assert.equal((await getXattr(join(again, "b"), "trusted.overlay.opaque"))?.toString(), "y");
  assert.equal(readFileSync(join(again, "b/y"), "utf8"), "y");
});

test("changes in an active snapshot's mount show up in its diff", { skip }, async () => {
  const sn = new Snapshotter(join(base, "snaps-rw"));
  await applyLayer(sn, "L1", undefined, layer1());
  const mounts = await sn.prepare("work", "L1");
  await withMount(mounts, (dir) => {
    writeFileSync(join(dir, "a/new"), "fresh");
    unlinkSync(join(dir, "a/file2"));
    rmSync(join(dir, "b"), { recursive: true });
    mkdirSync(join(dir, "b"));
    writeFileSync(join(dir, "b/z"), "z");
  });
  const paths = (await tarEntries(diffLayer(await sn.upperDir("work")))).map((e) => e.path);
  assert.deepEqual(paths, ["a/", "a/.wh.file2", "a/new", "b/", "b/.wh..wh..opq", "b/z"]);

  // Committing and stacking the diff as a layer of its own reproduces the container's view.
  await sn.commit("L2", "work");
  await sn.view("v", "L2");
  await withMount(await sn.mounts("v"), (dir) => {
    assert.deepEqual(readdirSync(join(dir, "a")).sort(), ["file1", "new"]);
    assert.deepEqual(readdirSync(join(dir, "b")), ["z"]);
  });
});

test("a long layer chain whose lowerdir overflows the mount option page still mounts", { skip }, async () => {
  const sn = new Snapshotter(join(base, "x".repeat(120), "snaps-long"));
  let parent: string | undefined;
  for (let i = 0; i < 60; i++) {
    await applyLayer(
      sn,
      `L${i}`,
      parent,
      tarStream([{ path: `f${i}`, data: String(i) }, ...(i === 59 ? [{ path: ".wh.f0", data: "" }] : [])]),
    );
    parent = `L${i}`;
  }
  const mounts = await sn.view("v", "L59");
  assert.ok((mounts[0]?.options.join(",").length ?? 0) > 4096, "the absolute option string is longer than a page");
  await withMount(mounts, (dir) => {
    assert.equal(readFileSync(join(dir, "f1"), "utf8"), "1");
    assert.equal(readFileSync(join(dir, "f58"), "utf8"), "58");
    assert.equal(existsSync(join(dir, "f0")), false);
  });
});

for (const via of ["the syscall helper", "mount(8)"] as const) {
  test(`mounts through ${via}: overlay and read-only binds, errors and unmounting what is not mounted`, { skip }, async () => {
    if (via === "mount(8)") setMountHelper(false);
    try {
      const sn = new Snapshotter(join(base, `snaps-${via.replace(/\W/g, "")}`));
      await applyLayer(sn, "L1", undefined, layer1());
      await sn.prepare("rw", "L1");
      await withMount(await sn.mounts("rw"), (dir) => {
        writeFileSync(join(dir, "a/new"), "n");
        assert.equal(readFileSync(join(dir, "a/file1"), "utf8"), "one");
      });
      assert.equal(readFileSync(join(await sn.upperDir("rw"), "a/new"), "utf8"), "n", "writes land in the upper dir");

      // A read-only bind: the bind, then a remount with the flag.
      const src = mkdtempSync(join(base, "src-"));
      await withMount([{ type: "bind", source: src, options: ["ro", "rbind"] }], (dir) => {
        assert.throws(() => writeFileSync(join(dir, "x"), "x"), /EROFS/);
        const line = readFileSync("/proc/self/mountinfo", "utf8")
          .split("\n")
          .find((l) => l.split(" ")[4] === dir);
        assert.match(line ?? "", / ro[, ]/, "mountinfo shows the bind read-only");
      });

      // Unmounting what is not mounted (or missing) is not an error; a mount that fails names its target.
      await unmount(src);
      await unmount(join(base, "missing"));
      await assert.rejects(
        mountAll([{ type: "overlay", source: "overlay", options: [`lowerdir=${join(base, "nope")}`] }], src),
        (e: Error) => e.name === "MountError" && e.message.includes(src),
      );
    } finally {
      setMountHelper(true);
    }
  });
}
