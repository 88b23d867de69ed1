import type { ContentStore } from "../content/index.ts";
import { MediaType } from "../registry/index.ts";
import type { ImageConfig } from "./config.ts";
import type { ImageRecord, ImageStore } from "./image-store.ts";
import { chainIds } from "./layers.ts";
import { fillFromStoredLayer, type LayerExtractor } from "./layer-extract.ts";
import { dockerManifest, type StoredLayer } from "./new-layer.ts";
import type { LayerUnpacker } from "./unpacker.ts";
import { ImageError } from "./errors.ts";

/** What recording a locally built image needs from the layers below. */
export type LocalImageDeps = { content: ContentStore; unpacker: LayerUnpacker; extractor: LayerExtractor; images: ImageStore };

/**
 * Records an image built locally (load, import, later commit and build): writes its config and
 * manifest, unpacks any layer whose snapshot is missing, and tags it.
 */
export async function registerLocalImage(
  deps: LocalImageDeps,
  config: ImageConfig,
  layers: StoredLayer[],
  repoTags: string[],
  /** The config's exact bytes when they come from elsewhere (an archive): they are the image ID. */
  configBytesAsGiven?: Buffer,
  /** The image it was made from (commit), recorded as dockerd records an image's parent. */
  parent?: string,
  /** A build step's result, kept as cache. */
  buildCache?: boolean,
): Promise<ImageRecord> {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length || layers.some((l, i) => l.diffId !== diffIds[i])) {
    throw new ImageError("the image config's diff_ids do not match its layers", "INVALID");
  }
  const configBytes = configBytesAsGiven ?? Buffer.from(JSON.stringify(config));
  const configDigest = await deps.content.put(configBytes);
  const manifest = dockerManifest({ digest: configDigest, size: configBytes.length }, layers);
  const manifestDigest = await deps.content.put(manifest);
  const chains = chainIds(diffIds);
  const sizes: number[] = [];
  for (const [i, layer] of layers.entries()) {
    if (await deps.unpacker.has(chains[i]!)) {
      sizes.push(await deps.unpacker.size(chains[i]!));
      continue;
    }
    const { size } = await deps.unpacker.apply(
      chains[i]!,
      i === 0 ? null : chains[i - 1]!,
      fillFromStoredLayer(deps.extractor, deps.content, layer, layer.diffId),
    );
    sizes.push(size);
  }
  const now = new Date().toISOString();
  return deps.images.put({
    id: configDigest,
    manifestDigest,
    manifestMediaType: MediaType.dockerManifest,
    indexDigest: null,
    repoTags,
    repoDigests: [],
    layers: layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: l.diffId, chainId: chains[i]! })),
    size: sizes.reduce((a, b) => a + b, 0),
    createdAt: config.created ?? now,
    lastTagTime: repoTags.length ? now : null,
    ...(parent ? { parent } : {}),
    ...(buildCache ? { buildCache: true } : {}),
  });
}
