import { createHash } from "node:crypto";
import { createGzip } from "node:zlib";
import { Transform, type Readable } from "node:stream";
import type { ContentStore } from "../content/index.ts";
import { MediaType } from "../registry/index.ts";

export interface StoredLayer {
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
}

/**
 * Stores an uncompressed layer tar as a gzip blob, as a registry push needs it, and returns
 * both digests: the blob's (compressed) and the diffID (uncompressed).
 */
export async function storeTarAsLayer(content: ContentStore, tar: Readable): Promise<StoredLayer> {
  const hash = createHash("sha256");
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
    // No entries at all (a commit of an unchanged container): the empty archive, two zero blocks, as dockerd's empty layer.
    flush(cb) {
      if (bytes > 0) return cb();
      const end = Buffer.alloc(1024);
      hash.update(end);
      cb(null, end);
    },
  });
  const gz = createGzip({ level: 6, chunkSize: 256 * 1024 });
  tar.on("error", (e) => gz.destroy(e));
  const stored = await content.writeStream(tar.pipe(tap).pipe(gz));
  return { digest: stored.digest, size: stored.size, mediaType: MediaType.dockerLayerGzip, diffId: `sha256:${hash.digest("hex")}` };
}

/** A Docker schema2 manifest for a config and gzip layers. */
export function dockerManifest(config: { digest: string; size: number }, layers: StoredLayer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
}
