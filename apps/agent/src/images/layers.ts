import { createHash } from "node:crypto";
import { createGunzip } from "node:zlib";
import { PassThrough, Transform, type Readable } from "node:stream";
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
  const hash = createHash("sha256");
  let digest: string | null = null;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      digest = `sha256:${hash.digest("hex")}`;
      cb();
    },
  });
  const compression = compressionOf(mediaType);
  if (compression === "zstd") throw new LayerFormatError("zstd-compressed layers are not supported yet (Node 20 has no zstd)");
  const sniff = new PassThrough();
  let decided = false;
  const out = new PassThrough();
  const fail = (e: Error) => out.destroy(new LayerFormatError(`layer is not a valid ${compression === "gzip" ? "gzip " : ""}tar stream: ${e.message}`));
  blob.on("error", (e) => out.destroy(e));
  blob.once("data", (first: Buffer) => {
    decided = true;
    const gz = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
    const chain: Readable = gz ? sniff.pipe(createGunzip()).on("error", fail) : sniff;
    chain.pipe(tap).pipe(out);
    sniff.write(first);
    blob.pipe(sniff);
  });
  blob.once("end", () => {
    if (!decided) {
      // an empty blob: an empty "tar"
      sniff.pipe(tap).pipe(out);
      sniff.end();
    }
  });
  return {
    tar: out,
    diffId: () => {
      if (!digest) throw new Error("layer stream not finished");
      return digest;
    },
  };
}
