// Content-addressable blob store: blobs/sha256/<hex>. Writes go to ingest/, are checked against
// the expected size and digest, then renamed into place atomically, so a reader never sees a
// partial or wrong blob and a failed download leaves nothing behind in blobs/.
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Writable } from "node:stream";
import { AgentError, type ErrorCode } from "../errors.ts";

const SHA256 = /^sha256:([a-f0-9]{64})$/;

/** The content store refused or lost a blob; its subclasses say which. */
export class ContentError extends AgentError {
  override name = "ContentError";
  constructor(message: string, code: ErrorCode = "FAILED") {
    super(message, code);
  }
}
export class DigestMismatchError extends ContentError {
  override name = "DigestMismatchError";
}
export class SizeMismatchError extends ContentError {
  override name = "SizeMismatchError";
}
export class BlobNotFoundError extends ContentError {
  override name = "BlobNotFoundError";
  constructor(message: string) {
    super(message, "NOT_FOUND");
  }
}

export interface Expected {
  digest: string;
  /** Known size; null when the source does not say (then only the digest is checked). */
  size: number | null;
}

/**
 * Where an ingest reads from: given how many bytes are already on disk, returns a stream of the
 * rest (a Range request) or of the whole blob, saying which.
 */
export type BlobSource = (offset: number) => Promise<{ stream: Readable; offset: number }>;

function hexOf(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m) throw new ContentError(`unsupported or malformed digest ${JSON.stringify(digest)} (only sha256 is supported)`);
  return m[1]!;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export class ContentStore {
  /** One ingest per digest at a time in this process: concurrent pulls share the download. */
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(readonly root: string) {}

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", hexOf(digest));
  }

  private ingestPath(digest: string): string {
    return join(this.root, "ingest", hexOf(digest));
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, "blobs", "sha256"), { recursive: true, mode: 0o700 });
    await mkdir(join(this.root, "ingest"), { recursive: true, mode: 0o700 });
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== null;
  }

  async size(digest: string): Promise<number | null> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return null;
    }
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch {
      throw new BlobNotFoundError(`blob ${digest} not found`);
    }
  }

  async readJson<T = unknown>(digest: string): Promise<T> {
    return JSON.parse((await this.read(digest)).toString("utf8")) as T;
  }

  readStream(digest: string): Readable {
    // Large reads: layers are tens of megabytes, and 64 KiB chunks cost more in per-chunk overhead than in I/O.
    return createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
  }

  /** Stores bytes already in memory (manifests, configs), checking them against `expected` if given. */
  async put(data: Buffer, expectedDigest?: string): Promise<string> {
    const digest = sha256Digest(data);
    if (expectedDigest && digest !== expectedDigest)
      throw new DigestMismatchError(`content digest ${digest} does not match ${expectedDigest}`);
    if (await this.has(digest)) return digest;
    await this.ingest({ digest, size: data.length }, async () => ({ stream: Readable.from([data]), offset: 0 }));
    return digest;
  }

  /**
   * Fetches a blob into the store unless it is there. A partial file left by a broken download
   * is resumed from where it stopped when the source honours the offset. Throws, and leaves no
   * blob, on a size or digest mismatch.
   */
  async ingest(expected: Expected, source: BlobSource): Promise<void> {
    hexOf(expected.digest);
    if (await this.has(expected.digest)) return;
    const running = this.inflight.get(expected.digest);
    if (running) return running;
    const job = this.doIngest(expected, source).finally(() => this.inflight.delete(expected.digest));
    this.inflight.set(expected.digest, job);
    return job;
  }

  private async doIngest(expected: Expected, source: BlobSource): Promise<void> {
    await this.init();
    const partial = this.ingestPath(expected.digest);
    let have = 0;
    try {
      have = (await stat(partial)).size;
    } catch {
      have = 0;
    }
    if (expected.size !== null && have > expected.size) {
      await rm(partial, { force: true });
      have = 0;
    }
    // Re-hash what is already on disk; sha256 cannot be resumed from a saved state.
    const hash = createHash("sha256");
    if (have > 0) await pipeline(createReadStream(partial, { end: have - 1 }), new HashSink(hash));
    const { stream, offset } = await source(have);
    if (offset !== have) {
      // The source restarted from 0 (no Range support): start the file over.
      if (offset !== 0) throw new ContentError(`source resumed at ${offset}, expected ${have} or 0`);
      return this.writeFrom(expected, stream, partial, createHash("sha256"), 0);
    }
    return this.writeFrom(expected, stream, partial, hash, have);
  }

  private async writeFrom(expected: Expected, stream: Readable, partial: string, hash: Hash, start: number): Promise<void> {
    let written = start;
    const limit = expected.size;
    // Each chunk is counted, hashed and awaited onto disk before the next is read, so a
    // connection that dies leaves every byte received so far in the partial file.
    const fh = await open(partial, start > 0 ? "a" : "w", 0o600);
    try {
      // Chunks are gathered into ~1 MiB writes: a network stream arrives in small pieces.
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async () => {
        if (batched === 0) return;
        const data = batch;
        batch = [];
        batched = 0;
        // writev hands the kernel the chunks as they are: no copy into one big buffer.
        const total = data.reduce((a, b) => a + b.length, 0);
        const { bytesWritten } = await fh.writev(data);
        // A short write (rare on regular files) gets the rest written plainly.
        if (bytesWritten < total) await fh.write(Buffer.concat(data).subarray(bytesWritten));
      };
      try {
        await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) {
            written += chunk.length;
            if (limit !== null && written > limit)
              throw new SizeMismatchError(`blob ${expected.digest} is larger than the expected ${limit} bytes`);
            hash.update(chunk);
            batch.push(chunk);
            batched += chunk.length;
            if (batched >= 1 << 20) await flush();
          }
        });
      } finally {
        // What arrived before an error is kept for a resumed attempt (unless the size overran).
        await flush();
      }
      await fh.sync();
    } catch (e) {
      // A size overrun is final; a network error keeps the partial file for a resumed retry.
      await fh.close();
      if (e instanceof SizeMismatchError) await rm(partial, { force: true });
      throw e;
    }
    await fh.close();
    if (limit !== null && written !== limit) {
      throw new SizeMismatchError(`blob ${expected.digest} ended after ${written} of ${limit} bytes`);
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (got !== expected.digest) {
      await rm(partial, { force: true });
      throw new DigestMismatchError(`blob digest mismatch: expected ${expected.digest}, got ${got}`);
    }
    await rename(partial, this.blobPath(expected.digest));
  }

  /**
   * Stores a stream whose digest is not known in advance (a layer being compressed, an
   * imported tarball): written to a unique ingest file while hashing, then renamed by digest.
   */
  async writeStream(stream: Readable): Promise<{ digest: string; size: number }> {
    await this.init();
    const tmp = join(this.root, "ingest", `stream-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const hash = createHash("sha256");
    let size = 0;
    const fh = await open(tmp, "w", 0o600);
    try {
      await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
          await fh.write(chunk);
        }
      });
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    const digest = `sha256:${hash.digest("hex")}`;
    if (await this.has(digest)) await rm(tmp, { force: true });
    else await rename(tmp, this.blobPath(digest));
    return { digest, size };
  }

  /** Removes a partial download, e.g. after giving up on it. */
  async abort(digest: string): Promise<void> {
    await rm(this.ingestPath(digest), { force: true });
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(join(this.root, "blobs", "sha256"))).filter((h) => /^[a-f0-9]{64}$/.test(h)).map((h) => `sha256:${h}`);
    } catch {
      return [];
    }
  }

  /**
   * Deletes every blob not reachable from `roots`. `children` names what a blob references
   * (an index its manifests, a manifest its config and layers); the image layer supplies it.
   */
  async gc(roots: Iterable<string>, children: (digest: string) => Promise<string[]>): Promise<{ removed: string[]; bytes: number }> {
    const live = new Set<string>();
    const queue = [...roots];
    while (queue.length) {
      const d = queue.pop()!;
      if (live.has(d) || !(await this.has(d))) continue;
      live.add(d);
      queue.push(...(await children(d)));
    }
    const removed: string[] = [];
    let bytes = 0;
    for (const d of await this.list()) {
      if (live.has(d)) continue;
      bytes += (await this.size(d)) ?? 0;
      await this.delete(d);
      removed.push(d);
    }
    return { removed, bytes };
  }
}

/** A writable end that only feeds a hash. */
class HashSink extends Writable {
  constructor(private readonly hash: Hash) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.hash.update(chunk);
    cb();
  }
}
