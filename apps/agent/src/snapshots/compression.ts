import { Readable, type Transform } from "node:stream";
import * as zlib from "node:zlib";
import { LayerFormatError, UnsupportedCompressionError } from "./errors.ts";

/*
 * Turns a layer blob stream into an uncompressed tar stream. The compression is sniffed from the
 * magic bytes (as Docker does: registries mislabel media types); the media type only lets a zstd
 * layer fail before any byte is read.
 */

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export type Compression = "gzip" | "zstd" | "none";

const startsWith = (buf: Buffer, magic: number[]) => buf.length >= magic.length && magic.every((b, i) => buf[i] === b);

export function compressionFromMediaType(mediaType: string | undefined): Compression | undefined {
  if (!mediaType) return undefined;
  if (/zstd/i.test(mediaType)) return "zstd";
  if (/gzip/i.test(mediaType)) return "gzip";
  if (/\.tar$|tar$/i.test(mediaType)) return "none";
  return undefined;
}

/** Node 20 has no zstd; newer Node versions expose zlib.createZstdDecompress. */
function zstdDecompressor(): Transform | undefined {
  const candidate: unknown = (zlib as Record<string, unknown>)["createZstdDecompress"];
  return typeof candidate === "function" ? (candidate as () => Transform)() : undefined;
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
export async function decompressLayer(stream: Readable, mediaType?: string): Promise<{ tar: AsyncIterable<Buffer>; compression: Compression }> {
  const declared = compressionFromMediaType(mediaType);
  if (declared === "zstd" && !zstdDecompressor()) {
    stream.destroy();
    throw new UnsupportedCompressionError("zstd");
  }

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

  const decompressor: Transform | undefined = compression === "gzip" ? zlib.createGunzip() : zstdDecompressor();
  if (!decompressor) {
    stream.destroy();
    throw new UnsupportedCompressionError("zstd");
  }
  rest.on("error", (err) => decompressor.destroy(err));
  rest.pipe(decompressor);
  return {
    compression,
    tar: (async function* () {
      try {
        for await (const chunk of decompressor) yield toBuffer(chunk);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && code.startsWith("Z_")) {
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
