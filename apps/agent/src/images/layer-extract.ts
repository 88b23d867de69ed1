import { createReadStream } from "node:fs";
import { unpackLayer } from "../snapshots/index.ts";
import type { ContentStore } from "../content/index.ts";
import { ImageError } from "./errors.ts";
import { decompressLayer } from "./layers.ts";
import type { LayerFill } from "./unpacker.ts";

/** Unpack one stored layer blob into a snapshot directory. */
export interface ExtractJob {
  blobPath: string;
  targetDir: string;
}

/** Extracts layer blobs into directories and reports each one's diffID (the uncompressed tar's sha256). */
export interface LayerExtractor {
  extract(job: ExtractJob): Promise<{ diffId: string }>;
  close(): Promise<void>;
}

/** The extraction itself: read, gunzip, hash and apply the tar under the strict filter. */
export async function extractLayerFile(job: ExtractJob): Promise<{ diffId: string }> {
  // Large reads: layers are tens of megabytes, and 64 KiB chunks cost more in per-chunk overhead than in I/O.
  const { tar, diffId } = decompressLayer(createReadStream(job.blobPath, { highWaterMark: 1 << 20 }));
  await unpackLayer(tar, job.targetDir);
  return { diffId: diffId() };
}

/** A snapshot fill that extracts a stored layer blob and checks it against the image config's diffID. */
export function fillFromStoredLayer(
  extractor: LayerExtractor,
  content: ContentStore,
  layer: { digest: string },
  expectedDiffId: string,
): LayerFill {
  return async (dir) => {
    const { diffId } = await extractor.extract({ blobPath: content.blobPath(layer.digest), targetDir: dir });
    if (diffId !== expectedDiffId)
      throw new ImageError(`layer ${layer.digest} unpacked to ${diffId}, but the image config says ${expectedDiffId}`, "INVALID");
  };
}
