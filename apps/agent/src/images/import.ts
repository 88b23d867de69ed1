import type { Readable } from "node:stream";
import { hostPlatform } from "../registry/index.ts";
import { formatReference, parseReference, withDefaultTag, type ImageReference } from "../registry/index.ts";
import { applyChanges } from "./changes.ts";
import type { ImageConfig } from "./config.ts";
import { registerLocalImage, type LocalImageDeps } from "./commit-image.ts";
import { ImageError } from "./errors.ts";
import type { ImageRecord } from "./image-store.ts";
import { decompressLayer } from "./layers.ts";
import { storeTarAsLayer } from "./new-layer.ts";

export interface ImportOptions {
  /** repo[:tag] for the new image; untagged when absent. */
  reference?: string;
  /** Dockerfile-style changes (CMD, ENV, ...) for its config. */
  changes?: string[];
  /** The history comment. */
  message?: string;
  /** The platform the image says it is for (`docker import --platform`); the host's by default. */
  platform?: { os: string; architecture: string; variant?: string };
}

/** `docker import`: a rootfs tarball (plain or gzip) becomes a one-layer image. */
export async function importRootfs(deps: LocalImageDeps, tarball: Readable, opts: ImportOptions = {}): Promise<ImageRecord> {
  let tags: string[] = [];
  if (opts.reference) {
    let ref: ImageReference;
    try {
      ref = parseReference(opts.reference);
    } catch (e) {
      throw new ImageError(e instanceof Error ? e.message : "invalid reference format", "INVALID");
    }
    if (ref.digest) throw new ImageError("refusing to create a tag with a digest reference", "INVALID");
    tags = [formatReference(withDefaultTag(ref))];
  }
  const runConfig = applyChanges({}, opts.changes ?? []);
  const { tar } = decompressLayer(tarball);
  const layer = await storeTarAsLayer(deps.content, tar);
  const now = new Date().toISOString();
  const p = opts.platform ?? hostPlatform();
  const config: ImageConfig = {
    created: now,
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: runConfig,
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created: now, created_by: "Imported from -", ...(opts.message ? { comment: opts.message } : {}) }],
  };
  return registerLocalImage(deps, config, [layer], tags);
}
