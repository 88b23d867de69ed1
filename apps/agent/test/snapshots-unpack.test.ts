import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { unpackLayer } from "../src/snapshots/unpack.ts";
import { LayerFormatError, LayerSecurityError } from "../src/snapshots/errors.ts";
import { getXattr } from "../src/mount/xattr.ts";
import { buildTar, sandbox, tarStream, type RawEntry } from "./snapshots-tar.ts";

const isRoot = process.geteuid?.() === 0;

/**
 * Runs a layer that must be refused: asserts a LayerSecurityError naming `entryPath`, that outside/
 * still holds exactly `outsideBefore`, and that none of the decoy paths exist.
 */
async function refused(
  entries: (s: ReturnType<typeof sandbox>) => RawEntry[],
  entryPath: RegExp,
  opts: { decoys?: (s: ReturnType<typeof sandbox>) => string[]; seedOutside?: boolean } = {},
) {
  const s = sandbox("berth-unpack-bad-");
  try {
    if (opts.seedOutside) writeFileSync(join(s.outside, "secret"), "top secret");
    const before = s.outsideListing().sort();
    const decoys = opts.decoys?.(s) ?? [];
    for (const d of decoys) assert.equal(existsSync(d), false, `decoy ${d} exists before the test`);
    await assert.rejects(unpackLayer(tarStream(entries(s)), s.target, { isRoot }), (err: unknown) => {
      assert.ok(err instanceof LayerSecurityError, `expected LayerSecurityError, got ${String(err)}`);
      assert.match(err.message, entryPath);
      return true;
    });
    assert.deepEqual(s.outsideListing().sort(), before, "something appeared in or vanished from outside/");
    if (opts.seedOutside) assert.equal(readFileSync(join(s.outside, "secret"), "utf8"), "top secret");
    for (const d of decoys) assert.equal(existsSync(d), false, `decoy ${d} was created`);
  } finally {
    s.cleanup();
  }
}

test("refuses ../../etc/x and ../outside/x", async () => {
  await refused(
    () => [
      { path: "ok", data: "fine" },
      { path: "../../etc/x", data: "pwned" },
    ],
    /"\.\.\/\.\.\/etc\/x".*"\.\."/,
    {
      decoys: (s) => [resolve(s.target, "../../etc/x")],
    },
  );
  await refused(() => [{ path: "a/../../outside/x", data: "pwned" }], /"a\/\.\.\/\.\.\/outside\/x"/, {
    decoys: (s) => [join(s.outside, "x")],
  });
});

test("refuses an absolute path instead of stripping it", async () => {
  await refused((s) => [{ path: join(s.outside, "abs-pwned"), data: "pwned" }], /absolute path/, {
    decoys: (s) => [join(s.outside, "abs-pwned"), join(s.target, s.outside, "abs-pwned")],
  });
});

test("refuses writing through a symlink that points outside", async () => {
  await refused(
    (s) => [
      { path: "evil", type: "2", linkpath: s.outside },
      { path: "evil/pwned", data: "pwned" },
    ],
    /"evil\/pwned".*parent "evil" is a symlink/,
    {
      decoys: (s) => [join(s.outside, "pwned")],
    },
  );
  await refused(
    () => [
      { path: "rel", type: "2", linkpath: "../outside" },
      { path: "rel/sub/pwned", data: "pwned" },
    ],
    /"rel\/sub\/pwned".*symlink/,
    {
      decoys: (s) => [join(s.outside, "sub")],
    },
  );
  // A directory replaced by a symlink later in the same layer must not stay trusted.
  await refused(
    (s) => [
      { path: "d/", type: "5" },
      { path: "d/x", data: "1" },
      { path: "d", type: "2", linkpath: s.outside },
      { path: "d/pwned", data: "pwned" },
    ],
    /"d\/pwned"/,
    {
      decoys: (s) => [join(s.outside, "pwned")],
    },
  );
});

test("refuses hardlinks to paths outside the layer", async () => {
  await refused(() => [{ path: "hl", type: "1", linkpath: "../../outside/secret" }], /"hl".*link target.*"\.\."/, { seedOutside: true });
  await refused((s) => [{ path: "hl", type: "1", linkpath: join(s.outside, "secret") }], /"hl".*absolute link target/, {
    seedOutside: true,
  });
  // Through a symlinked directory inside the layer: the link would share the outside file's inode.
  await refused(
    (s) => [
      { path: "evil", type: "2", linkpath: s.outside },
      { path: "hl", type: "1", linkpath: "evil/secret" },
    ],
    /"hl".*symlink/,
    { seedOutside: true },
  );
  await refused(() => [{ path: "hl", type: "1", linkpath: "missing" }], /"hl".*not in this layer/);
});

test("refuses malicious whiteouts", async () => {
  // ".wh.." would whiteout "..": the parent of the directory.
  await refused(
    () => [
      { path: "a/", type: "5" },
      { path: "a/.wh..", data: "" },
    ],
    /malformed whiteout/,
  );
  await refused(() => [{ path: ".wh..", data: "" }], /malformed whiteout/);
  await refused(() => [{ path: "a/.wh.", data: "" }], /malformed whiteout/);
  await refused(() => [{ path: "../.wh.outside", data: "" }], /"\.\."/, { seedOutside: true, decoys: () => [] });
  await refused(() => [{ path: "a/.wh.../x", data: "" }], /whiteout name/);
  // A whiteout through a symlinked parent would delete (replace) a file outside.
  await refused(
    (s) => [
      { path: "evil", type: "2", linkpath: s.outside },
      { path: "evil/.wh.secret", data: "" },
    ],
    /symlink/,
    { seedOutside: true },
  );
  await refused(
    (s) => [
      { path: "evil", type: "2", linkpath: s.outside },
      { path: "evil/.wh..wh..opq", data: "" },
    ],
    /symlink/,
    { seedOutside: true },
  );
});

test("refuses device nodes unless running as root, and overlay xattrs always", async () => {
  const s = sandbox("berth-unpack-dev-");
  try {
    await assert.rejects(
      unpackLayer(tarStream([{ path: "null", type: "3", devmajor: 1, devminor: 3 }]), s.target, { isRoot: false }),
      /device nodes are only created when running as root/,
    );
    await assert.rejects(
      unpackLayer(tarStream([{ path: "sda", type: "4", devmajor: 8, devminor: 0 }]), s.target, { isRoot: false }),
      LayerSecurityError,
    );
    assert.deepEqual(readdirSync(s.target), []);
    await assert.rejects(
      unpackLayer(tarStream([{ path: "d/", type: "5", pax: { "SCHILY.xattr.trusted.overlay.redirect": "/etc" } }]), s.target, { isRoot }),
      /trusted\.overlay\.redirect is reserved/,
    );
  } finally {
    s.cleanup();
  }
});

test("keeps modes (setuid/setgid/sticky), owners, mtimes, symlinks and hardlinks", async () => {
  const s = sandbox("berth-unpack-good-");
  try {
    const res = await unpackLayer(
      tarStream([
        { path: "bin/", type: "5", mode: 0o755, mtime: 1_400_000_000 },
        { path: "bin/su", data: "suid", mode: 0o4755, uid: 1234, gid: 5678, mtime: 1_500_000_000 },
        { path: "bin/wall", data: "sgid", mode: 0o2755 },
        { path: "tmp/", type: "5", mode: 0o1777 },
        { path: "etc/secret", data: "x", mode: 0o600 },
        { path: "link-abs", type: "2", linkpath: "/etc/passwd", mtime: 1_300_000_000 },
        { path: "link-up", type: "2", linkpath: "../../../outside" },
        { path: "bin/su2", type: "1", linkpath: "bin/su" },
        { path: "fifo", type: "6", mode: 0o640 },
      ]),
      s.target,
      { isRoot },
    );
    assert.equal(res.entries, 9);
    assert.equal(res.bytes, 9);
    assert.equal(res.compression, "none");
    const t = (p: string) => join(s.target, p);
    assert.equal(statSync(t("bin/su")).mode & 0o7777, 0o4755);
    assert.equal(statSync(t("bin/wall")).mode & 0o7777, 0o2755);
    assert.equal(statSync(t("tmp")).mode & 0o7777, 0o1777);
    assert.equal(statSync(t("etc/secret")).mode & 0o7777, 0o600);
    assert.equal(statSync(t("etc")).mode & 0o7777, 0o755, "implicit parents are 0755");
    assert.equal(statSync(t("bin/su")).mtimeMs, 1_500_000_000_000);
    assert.equal(statSync(t("bin")).mtimeMs, 1_400_000_000_000, "directory mtimes survive their children");
    if (isRoot) {
      assert.equal(statSync(t("bin/su")).uid, 1234);
      assert.equal(statSync(t("bin/su")).gid, 5678);
    }
    assert.ok(lstatSync(t("link-abs")).isSymbolicLink());
    assert.equal(readlinkSync(t("link-abs")), "/etc/passwd");
    assert.equal(lstatSync(t("link-abs")).mtimeMs, 1_300_000_000_000);
    assert.equal(readlinkSync(t("link-up")), "../../../outside");
    assert.equal(statSync(t("bin/su2")).ino, statSync(t("bin/su")).ino);
    assert.equal(statSync(t("bin/su")).nlink, 2);
    assert.ok(lstatSync(t("fifo")).isFIFO());
    assert.deepEqual(s.outsideListing(), []);
  } finally {
    s.cleanup();
  }
});

test("later entries replace earlier ones", async () => {
  const s = sandbox("berth-unpack-replace-");
  try {
    await unpackLayer(
      tarStream([
        { path: "f", data: "old" },
        { path: "h", type: "1", linkpath: "f" },
        { path: "f", data: "new" },
        { path: "d/x", data: "1" },
        { path: "d", data: "now a file" },
        { path: "e", data: "file" },
        { path: "e/", type: "5" },
        { path: "e/y", data: "2" },
        { path: "s", type: "2", linkpath: "f" },
        { path: "s", data: "plain" },
      ]),
      s.target,
      { isRoot },
    );
    const t = (p: string) => join(s.target, p);
    assert.equal(readFileSync(t("f"), "utf8"), "new");
    assert.equal(readFileSync(t("h"), "utf8"), "old", "replacing a file does not write through its hardlink");
    assert.equal(readFileSync(t("d"), "utf8"), "now a file");
    assert.equal(readFileSync(t("e/y"), "utf8"), "2");
    assert.ok(lstatSync(t("s")).isFile());
  } finally {
    s.cleanup();
  }
});

test("gzip and plain tar both unpack, streaming a large file", async () => {
  const big = randomBytes(3 * 1024 * 1024);
  for (const gzip of [false, true]) {
    const s = sandbox("berth-unpack-gz-");
    try {
      const res = await unpackLayer(
        tarStream(
          [
            { path: "big.bin", data: big },
            { path: "small", data: "s" },
          ],
          { gzip },
        ),
        s.target,
        { isRoot },
      );
      assert.equal(res.compression, gzip ? "gzip" : "none");
      assert.equal(res.bytes, big.length + 1);
      assert.ok(readFileSync(join(s.target, "big.bin")).equals(big));
      assert.equal(readFileSync(join(s.target, "small"), "utf8"), "s");
    } finally {
      s.cleanup();
    }
  }
});

test("a layer delivered in tiny chunks unpacks the same", async () => {
  const s = sandbox("berth-unpack-chunks-");
  try {
    const tar = gzipSync(buildTar(Array.from({ length: 300 }, (_, i) => ({ path: `d${i % 7}/f${i}`, data: `content ${i}` }))));
    const chunks: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 7) chunks.push(tar.subarray(i, i + 7));
    const res = await unpackLayer(Readable.from(chunks), s.target, { isRoot });
    assert.equal(res.entries, 300);
    assert.equal(readFileSync(join(s.target, "d3/f199"), "utf8"), "content 199");
  } finally {
    s.cleanup();
  }
});

/** zstd-compressed bytes, from Debian's zstd (Node 20 has no zstd compressor). */
function zstd(data: Buffer): Buffer {
  return execFileSync("zstd", ["-q", "-c", "-3"], { input: data, maxBuffer: 64 << 20 });
}

test("a zstd layer unpacks, in small chunks as from the network too", async () => {
  const s = sandbox("berth-unpack-zstd-");
  try {
    const big = randomBytes(300 * 1024);
    const zst = zstd(
      buildTar([
        { path: "d/", type: "5" },
        { path: "d/big.bin", data: big },
        { path: "d/note", data: "zstd works\n" },
      ]),
    );
    const chunks: Buffer[] = [];
    for (let i = 0; i < zst.length; i += 1000) chunks.push(zst.subarray(i, i + 1000));
    const res = await unpackLayer(Readable.from(chunks), s.target, { isRoot });
    assert.equal(res.compression, "zstd");
    assert.deepEqual(readFileSync(join(s.target, "d/big.bin")), big);
    assert.equal(readFileSync(join(s.target, "d/note"), "utf8"), "zstd works\n");
  } finally {
    s.cleanup();
  }
});

test("corrupt or unsupported input gives a clear error", async () => {
  const s = sandbox("berth-unpack-corrupt-");
  try {
    const gz = gzipSync(buildTar([{ path: "a", data: randomBytes(64 * 1024) }]));
    const corrupt = Buffer.from(gz);
    for (let i = 20; i < corrupt.length - 20; i += 97) corrupt[i] = corrupt[i]! ^ 0xff;
    await assert.rejects(
      unpackLayer(Readable.from([corrupt]), s.target),
      (err: unknown) => err instanceof LayerFormatError && /corrupt gzip layer stream/.test(err.message),
    );
    await assert.rejects(
      unpackLayer(Readable.from([gz.subarray(0, gz.length / 2)]), s.target),
      (err: unknown) => err instanceof LayerFormatError && /gzip/.test(err.message),
    );
    await assert.rejects(unpackLayer(Readable.from([randomBytes(4096)]), s.target), LayerFormatError);
    const plain = buildTar([{ path: "a", data: randomBytes(4096) }]);
    await assert.rejects(unpackLayer(Readable.from([plain.subarray(0, 2048)]), s.target), /Truncated|invalid layer tar/);
    await assert.rejects(
      unpackLayer(Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0])]), s.target),
      (err: unknown) => err instanceof LayerFormatError && /corrupt zstd layer stream/.test(err.message),
    );
    // A source that breaks in the middle of a file's body (a dropped connection) fails, not hangs.
    const body = buildTar([{ path: "big", data: randomBytes(64 * 1024) }]);
    const broken = async function* () {
      yield body.subarray(0, 16 * 1024);
      throw new Error("connection reset");
    };
    await assert.rejects(unpackLayer(Readable.from(broken()), s.target), /connection reset/);
    const zst = zstd(plain);
    await assert.rejects(
      unpackLayer(Readable.from([zst.subarray(0, zst.length - 8)]), s.target),
      (err: unknown) => err instanceof LayerFormatError && /zstd/.test(err.message),
    );
  } finally {
    s.cleanup();
  }
});

test("xattrs from PAX SCHILY.xattr headers are applied", { skip: !isRoot && "needs root for security.*" }, async () => {
  const s = sandbox("berth-unpack-xattr-");
  try {
    const cap = Buffer.from("0100000200200000000000000000000000000000", "hex"); // cap_net_raw=ep (v2)
    const res = await unpackLayer(
      tarStream([
        { path: "d/", type: "5", pax: { "SCHILY.xattr.user.dir": "on a dir" } },
        {
          path: "d/ping",
          data: "elf",
          mode: 0o755,
          pax: { "SCHILY.xattr.user.comment": "hello=world\nline2", "SCHILY.xattr.security.capability": cap },
        },
      ]),
      s.target,
      { isRoot },
    );
    assert.deepEqual(res.warnings, []);
    assert.equal((await getXattr(join(s.target, "d/ping"), "user.comment"))?.toString(), "hello=world\nline2");
    assert.deepEqual(await getXattr(join(s.target, "d/ping"), "security.capability"), cap);
    assert.equal((await getXattr(join(s.target, "d"), "user.dir"))?.toString(), "on a dir");
    assert.equal(await getXattr(join(s.target, "d/ping"), "user.nope"), undefined);
  } finally {
    s.cleanup();
  }
});

test("device nodes are created when running as root", { skip: !isRoot && "needs root" }, async () => {
  const s = sandbox("berth-unpack-devroot-");
  try {
    mkdirSync(join(s.target, "dev"));
    await unpackLayer(tarStream([{ path: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 }]), s.target, { isRoot: true });
    const st = lstatSync(join(s.target, "dev/null"));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (1 << 8) | 3);
    assert.equal(st.mode & 0o7777, 0o666);
  } finally {
    s.cleanup();
  }
});

test("a refused entry stops reading an endless source (no hang, no buffering)", async () => {
  const s = sandbox("berth-unpack-endless-");
  try {
    const head = buildTar([
      { path: "big", data: randomBytes(2 * 1024 * 1024) },
      { path: "../escape", data: "x" },
    ]).subarray(0, -1024);
    let pulled = 0;
    let destroyed = false;
    const source = Readable.from(
      (async function* () {
        try {
          yield head;
          // Then padding blocks forever: only stopping on the refusal ends this test.
          for (;;) {
            pulled++;
            yield Buffer.alloc(64 * 1024);
          }
        } finally {
          destroyed = true;
        }
      })(),
      { objectMode: false },
    );
    await assert.rejects(unpackLayer(source, s.target, { isRoot }), /"\.\.\/escape"/);
    await new Promise((r) => setImmediate(r));
    assert.ok(destroyed || source.destroyed, "the source stream was released");
    assert.ok(pulled < 50, `read only a little past the refusal (${pulled} chunks)`);
    assert.deepEqual(s.outsideListing(), []);
    assert.equal(existsSync(join(s.base, "escape")), false);
  } finally {
    s.cleanup();
  }
});

test("many small entries in one chunk are applied in order", async () => {
  const s = sandbox("berth-unpack-many-");
  try {
    const entries: RawEntry[] = [];
    for (let i = 0; i < 2000; i++) entries.push({ path: `f${i % 50}`, data: String(i) });
    const res = await unpackLayer(Readable.from([buildTar(entries)]), s.target, { isRoot });
    assert.equal(res.entries, 2000);
    assert.equal(readFileSync(join(s.target, "f49"), "utf8"), "1999");
    assert.equal(readFileSync(join(s.target, "f0"), "utf8"), "1950");
  } finally {
    s.cleanup();
  }
});
