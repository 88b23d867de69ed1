import { createHash } from "node:crypto";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MediaType } from "../registry/media-types.ts";

/** containerd/Docker chain IDs: the snapshot key of a layer stacked on all layers below it. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev ? `sha256:${createHash("sha256").update(`${prev} ${d}`).digest("hex")}` : d);
  }
  return out;
}

export class LayerFormatError extends Error {
  override name = "LayerFormatError";
}

export type Compression = "gzip" | "zstd" | "none";

export function compressionOf(mediaType: string): Compression {
  if (mediaType === MediaType.ociLayerZstd) return "zstd";
  if (mediaType.endsWith("+gzip") || mediaType === MediaType.dockerLayerGzip || mediaType === "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") return "gzip";
  return "none";
}

/**
 * Turns a stored layer blob into its uncompressed tar, hashing it on the way: the hash is the
 * layer's diffID, which must match the image config before the layer is trusted.
 * Gzip is also recognised by its magic bytes, since some registries mislabel layers.
 */
export function decompressLayer(blob: Readable, mediaType: string): { tar: Readable; diffId: () => string } {
  const compression = compressionOf(mediaType);
  if (compression === "zstd") throw new LayerFormatError("zstd-compressed layers are not supported yet (Node 20 has no zstd)");
  const hash = createHash("sha256");
  let digest: string | null = null;
  // A lazy generator: nothing is read until the consumer reads, so an error (a corrupt gzip)
  // surfaces in the consumer rather than on a stream nobody listens to yet.
  async function* plain(): AsyncGenerator<Buffer> {
    const chunks = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first = await chunks.next();
    if (!first.done) {
      const head = first.value;
      const all = (async function* () {
        yield head;
        for (let n = await chunks.next(); !n.done; n = await chunks.next()) yield n.value;
      })();
      const gz = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
      let source: AsyncIterable<Buffer> = all;
      if (gz) {
        const gunzip = createGunzip({ chunkSize: 256 * 1024 });
        pipeline(Readable.from(all), gunzip).catch(() => {}); // errors reach the loop below through gunzip
        source = gunzip;
      }
      try {
        for await (const chunk of source) {
          hash.update(chunk);
          yield chunk;
        }
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (typeof code === "string" && code.startsWith("Z_")) throw new LayerFormatError(`layer is not a valid gzip stream: ${(e as Error).message}`);
        throw e;
      }
    }
    digest = `sha256:${hash.digest("hex")}`;
  }
  return {
    tar: Readable.from(plain(), { objectMode: false }),
    diffId: () => {
      if (!digest) throw new Error("layer stream not finished");
      return digest;
    },
  };
}
