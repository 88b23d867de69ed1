import { Readable, Transform } from "node:stream";
import * as zlib from "node:zlib";
import { Decompress as ZstdStream } from "fzstd";
import { LayerFormatError } from "./errors.ts";

/*
 * Turns a layer blob stream into an uncompressed tar stream. The compression is sniffed from the
 * magic bytes, as Docker does: registries mislabel media types.
 */

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export type Compression = "gzip" | "zstd" | "none";

const startsWith = (buf: Buffer, magic: number[]) => buf.length >= magic.length && magic.every((b, i) => buf[i] === b);

/**
 * A zstd decompressing stream: zlib's own where Node has one (22.15+), else fzstd (pure
 * JavaScript, streaming). Broken input fails the stream with a LayerFormatError.
 */
export function createZstdDecompressor(): Transform {
  const native: unknown = (zlib as Record<string, unknown>).createZstdDecompress;
  if (typeof native === "function") return (native as () => Transform)();
  const corrupt = (e: unknown) => new LayerFormatError(`corrupt zstd layer stream: ${e instanceof Error ? e.message : String(e)}`, e);
  let out: Transform | undefined;
  // fzstd hands out a fresh array per block, so it can be passed on without a copy.
  const decoder = new ZstdStream((data) => {
    if (data.length > 0) out!.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        decoder.push(chunk);
        cb();
      } catch (e) {
        cb(corrupt(e));
      }
    },
    flush(cb) {
      try {
        decoder.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(corrupt(e));
      }
    },
  });
  return out;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new LayerFormatError("layer stream yielded a non-binary chunk");
}

/**
 * Returns the uncompressed tar bytes of `stream`. Decompression errors surface as LayerFormatError
 * from the returned stream's iteration.
 */
export async function decompressLayer(stream: Readable): Promise<{ tar: AsyncIterable<Buffer>; compression: Compression }> {
  // Peek at least 4 bytes without losing them.
  const it = stream[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < ZSTD_MAGIC.length) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, toBuffer(r.value)]);
  }
  const rest = Readable.from(
    (async function* () {
      if (head.length > 0) yield head;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuffer(r.value);
      }
    })(),
    { objectMode: false },
  );

  let compression: Compression = "none";
  if (startsWith(head, GZIP_MAGIC)) compression = "gzip";
  else if (startsWith(head, ZSTD_MAGIC)) compression = "zstd";

  if (compression === "none") return { tar: rest, compression };

  const decompressor: Transform = compression === "gzip" ? zlib.createGunzip({ chunkSize: 256 * 1024 }) : createZstdDecompressor();
  rest.on("error", (err) => decompressor.destroy(err));
  rest.pipe(decompressor);
  return {
    compression,
    tar: (async function* () {
      try {
        for await (const chunk of decompressor) yield toBuffer(chunk);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && /^(Z_|ZSTD)/.test(code)) {
          throw new LayerFormatError(`corrupt ${compression} layer stream: ${(err as Error).message}`, err);
        }
        throw err;
      } finally {
        // Also reached when the reader stops early (a refused entry): release both streams.
        decompressor.destroy();
        rest.destroy();
      }
    })(),
  };
}
