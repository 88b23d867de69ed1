import { lstat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Readable } from "node:stream";
import { Parser, type ReadEntry } from "tar";
import { LayerApplier } from "./apply-entry.ts";
import { decompressLayer, type Compression } from "./compression.ts";
import { LayerFormatError, UnsupportedEntryError } from "./errors.ts";
import { paxXattrs } from "./pax-xattrs.ts";

/*
 * Streams a layer blob (gzip, zstd or plain tar) into a layer directory. node-tar's Parser does the tar
 * framing; LayerApplier does every filesystem write under the strict filter. The parser emits
 * entries synchronously while our writes are async, so entries go through a small bounded queue:
 * the producer stops feeding the parser when the queue is full or the current entry's body has
 * not been read yet, so a layer is never buffered in memory.
 */

export interface UnpackOptions {
  /** Chown to the tar's owners, allow device nodes, create whiteouts. Defaults to euid === 0. */
  isRoot?: boolean;
}

export interface UnpackResult {
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  compression: Compression;
  /** Things skipped on purpose (aufs metadata, xattrs this process may not set). */
  warnings: string[];
}

const MAX_QUEUED_ENTRIES = 128;

/** Wakes every waiter; used by the producer and consumer to wait for each other without polling. */
class Signal {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Unpacks `stream` into `targetDir`, which must be an existing directory. On error the directory
 * holds a partial layer and the caller discards it (the snapshotter removes the snapshot);
 * nothing is ever written outside it.
 */
export async function unpackLayer(stream: Readable, targetDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const root = resolve(targetDir);
  const st = await lstat(root);
  if (!st.isDirectory()) {
    stream.destroy();
    throw new LayerFormatError(`unpack target ${root} is not a directory`);
  }
  const isRoot = opts.isRoot ?? process.geteuid?.() === 0;
  const { tar, compression } = await decompressLayer(stream);
  const applier = new LayerApplier(root, { isRoot });

  const parser = new Parser({ strict: true });
  const queue: { entry: ReadEntry; xattrs: Map<string, Buffer> | undefined }[] = [];
  const signal = new Signal();
  let failure: Error | undefined;
  let parsed = false;
  let drained = true;
  let pendingXattrs: Map<string, Buffer> | undefined;
  let current: ReadEntry | undefined;

  const fail = (err: unknown) => {
    if (!failure) failure = err instanceof Error ? err : new Error(String(err));
    // Unblock whoever is waiting: the entry being read, queued entries, and the source itself.
    // The entry being read is ended, not destroyed: a minipass stream destroyed between two reads
    // never settles the next read, while an ended one reports its end and the short file fails.
    current?.end();
    for (const q of queue) q.entry.destroy();
    stream.destroy();
    signal.notify();
  };

  // PAX extended headers arrive as a 'meta' event just before the entry they describe; node-tar
  // drops SCHILY.xattr.* records, so they are read from the raw header text here.
  parser.on("meta", (meta: string) => {
    const found = paxXattrs(meta);
    if (found.warning) applier.warnings.push(found.warning);
    if (found.xattrs.size > 0) pendingXattrs = new Map([...(pendingXattrs ?? []), ...found.xattrs]);
  });
  parser.on("entry", (entry: ReadEntry) => {
    queue.push({ entry, xattrs: pendingXattrs });
    pendingXattrs = undefined;
    signal.notify();
  });
  parser.on("ignoredEntry", (entry: ReadEntry) => fail(new UnsupportedEntryError(entry.path, entry.header.typeKey)));
  parser.on("error", (err: unknown) =>
    fail(new LayerFormatError(`invalid layer tar: ${err instanceof Error ? err.message : String(err)}`, err)),
  );
  parser.on("drain", () => {
    drained = true;
    signal.notify();
  });
  parser.on("end", () => {
    parsed = true;
    signal.notify();
  });

  const produce = async () => {
    try {
      for await (const chunk of tar) {
        if (failure) break;
        drained = false;
        if (!parser.write(chunk)) {
          while (!drained && !failure) await signal.wait();
        }
        while (queue.length >= MAX_QUEUED_ENTRIES && !failure) await signal.wait();
        if (failure) break;
      }
      if (!failure) parser.end();
    } catch (err) {
      fail(err);
    }
  };

  const consume = async () => {
    try {
      for (;;) {
        if (failure) return;
        const item = queue.shift();
        if (!item) {
          if (parsed) return;
          await signal.wait();
          continue;
        }
        signal.notify(); // room in the queue for the producer
        current = item.entry;
        await applier.apply(item.entry, item.xattrs);
        current = undefined;
      }
    } catch (err) {
      fail(err);
    }
  };

  await Promise.all([produce(), consume()]);
  if (failure) {
    stream.destroy();
    throw failure;
  }
  await applier.finish();
  return { entries: applier.entries, bytes: applier.bytes, compression, warnings: applier.warnings };
}
