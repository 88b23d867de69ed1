import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import { ContentStore, DigestMismatchError, SizeMismatchError, sha256Digest } from "../src/content/store.ts";
import { within } from "@berth/test-support/wait";

const root = mkdtempSync(join(tmpdir(), "berth-content-"));
after(() => rmSync(root, { recursive: true, force: true }));

const whole = (data: Buffer) => async () => ({ stream: Readable.from([data]), offset: 0 });
const blobs = (s: ContentStore) => readdirSync(join(s.root, "blobs/sha256"));
const ingests = (s: ContentStore) => readdirSync(join(s.root, "ingest"));

test("a blob is stored under its digest and read back", async () => {
  const s = new ContentStore(join(root, "a"));
  const data = randomBytes(100_000);
  const d = sha256Digest(data);
  await s.ingest({ digest: d, size: data.length }, whole(data));
  assert.deepEqual(await s.read(d), data);
  assert.equal(await s.size(d), data.length);
  assert.deepEqual(ingests(s), []);
});

test("a digest mismatch errors and stores nothing", async () => {
  const s = new ContentStore(join(root, "b"));
  const data = randomBytes(1000);
  const wrong = sha256Digest(Buffer.from("something else"));
  await assert.rejects(
    s.ingest({ digest: wrong, size: data.length }, whole(data)),
    (e: unknown) => e instanceof DigestMismatchError && /expected sha256:/.test((e as Error).message),
  );
  assert.equal(await s.has(wrong), false);
  assert.deepEqual(blobs(s), []);
  assert.deepEqual(ingests(s), []);
});

test("too many bytes is refused as it streams; too few is refused at the end", async () => {
  const s = new ContentStore(join(root, "c"));
  const data = randomBytes(1000);
  const d = sha256Digest(data);
  await assert.rejects(s.ingest({ digest: d, size: 500 }, whole(data)), SizeMismatchError);
  assert.deepEqual(blobs(s), []);
  await assert.rejects(s.ingest({ digest: d, size: 2000 }, whole(data)), /ended after 1000 of 2000 bytes/);
  assert.deepEqual(blobs(s), []);
});

test("a broken download resumes from the partial file with the offset", async () => {
  const s = new ContentStore(join(root, "d"));
  const data = randomBytes(300_000);
  const d = sha256Digest(data);
  const offsets: number[] = [];
  let attempt = 0;
  const flaky = async (offset: number) => {
    offsets.push(offset);
    attempt++;
    if (attempt === 1) {
      // 120,000 bytes, then the connection dies
      async function* cut() {
        yield data.subarray(0, 60_000);
        yield data.subarray(60_000, 120_000);
        throw new Error("connection reset");
      }
      return { stream: Readable.from(cut()), offset: 0 };
    }
    return { stream: Readable.from([data.subarray(offset)]), offset };
  };
  await assert.rejects(s.ingest({ digest: d, size: data.length }, flaky), /connection reset/);
  assert.equal(await s.has(d), false);
  await s.ingest({ digest: d, size: data.length }, flaky);
  assert.deepEqual(offsets, [0, 120_000]);
  assert.deepEqual(await s.read(d), data);
});

test("a source that cannot resume starts over", async () => {
  const s = new ContentStore(join(root, "e"));
  const data = randomBytes(5000);
  const d = sha256Digest(data);
  await s.init();
  writeFileSync(join(s.root, "ingest", d.slice(7)), data.subarray(0, 100));
  await s.ingest({ digest: d, size: data.length }, whole(data));
  assert.deepEqual(await s.read(d), data);
});

test("concurrent ingests of one blob fetch it once", async () => {
  const s = new ContentStore(join(root, "f"));
  const data = randomBytes(50_000);
  const d = sha256Digest(data);
  // The fetch is held until all five ingests have looked in the store and found nothing there:
  // each must then wait for the one fetch under way instead of starting its own.
  let checked = 0;
  let allChecked!: () => void;
  const gate = new Promise<void>((r) => (allChecked = r));
  const has = s.has.bind(s);
  s.has = async (digest: string) => {
    const found = await has(digest);
    if (++checked === 5) allChecked();
    return found;
  };
  let fetches = 0;
  const src = async () => {
    fetches++;
    await gate;
    return { stream: Readable.from([data]), offset: 0 };
  };
  await within("five concurrent ingests", Promise.all(Array.from({ length: 5 }, () => s.ingest({ digest: d, size: data.length }, src))));
  assert.equal(fetches, 1);
  assert.deepEqual(await s.read(d), data);
});

test("malformed digests are refused", async () => {
  const s = new ContentStore(join(root, "g"));
  await assert.rejects(s.ingest({ digest: "sha256:../../etc", size: 1 }, whole(Buffer.from("x"))), /malformed digest/);
  await assert.rejects(s.ingest({ digest: "md5:abc", size: 1 }, whole(Buffer.from("x"))), /only sha256/);
  assert.equal(existsSync(join(root, "etc")), false);
});

test("gc removes what no root reaches", async () => {
  const s = new ContentStore(join(root, "h"));
  const layer = await s.put(Buffer.from("layer"));
  const config = await s.put(Buffer.from("config"));
  const manifest = await s.put(Buffer.from(JSON.stringify({ config, layers: [layer] })));
  const orphan = await s.put(Buffer.from("orphan"));
  const children = async (dgst: string) => {
    if (dgst !== manifest) return [];
    const m = await s.readJson<{ config: string; layers: string[] }>(dgst);
    return [m.config, ...m.layers];
  };
  const r = await s.gc([manifest], children);
  assert.deepEqual(r.removed, [orphan]);
  assert.equal(await s.has(layer), true);
  assert.equal(await s.has(orphan), false);
  const r2 = await s.gc([], children);
  assert.equal(r2.removed.length, 3);
});
