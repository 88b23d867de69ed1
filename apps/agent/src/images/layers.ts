import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { decompressLayer as decompressBlob } from "../snapshots/index.ts";

/** containerd/Docker chain IDs: the snapshot key of a layer stacked on all layers below it. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev ? `sha256:${createHash("sha256").update(`${prev} ${d}`).digest("hex")}` : d);
  }
  return out;
}

/**
 * Turns a stored layer blob into its uncompressed tar, hashing it on the way: the hash is the
 * layer's diffID, which must match the image config before the layer is trusted. The compression
 * (gzip, zstd or none) comes from the magic bytes, as Docker does, since registries mislabel
 * layers; a broken stream fails the reader with a LayerFormatError.
 */
export function decompressLayer(blob: Readable): { tar: Readable; diffId: () => string } {
  const hash = createHash("sha256");
  let digest: string | null = null;
  // A lazy generator: nothing is read until the consumer reads, so an error (a corrupt gzip)
  // surfaces in the consumer rather than on a stream nobody listens to yet.
  async function* plain(): AsyncGenerator<Buffer> {
    const { tar } = await decompressBlob(blob);
    for await (const chunk of tar) {
      hash.update(chunk);
      yield chunk;
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
