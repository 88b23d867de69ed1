// A stage's image as the build goes: its config and layers, and the image ID once recorded. Every
// step that changes it records a new image, kept as build cache, which is what a cache hit finds.
import type { ImageConfig, ImageRecord, ImageService, StoredLayer } from "../images/index.ts";
import { hostPlatform } from "../registry/index.ts";

export interface BuildState {
  /** The recorded image; null for `FROM scratch` before its first step. */
  id: string | null;
  config: ImageConfig;
  layers: StoredLayer[];
}

export function scratchState(): BuildState {
  const { os, architecture } = hostPlatform();
  return { id: null, config: { architecture, os, config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] }, layers: [] };
}

export async function stateOf(images: ImageService, img: ImageRecord): Promise<BuildState> {
  return {
    id: img.id,
    config: await images.config(img),
    layers: img.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: l.diffId })),
  };
}

/** Records a step's result: the new run config, its history entry, and its layer if it made one. */
export async function commitState(
  images: ImageService,
  prev: BuildState,
  runConfig: NonNullable<ImageConfig["config"]>,
  createdBy: string,
  layer: StoredLayer | null,
  extra: { author?: string } = {},
): Promise<BuildState> {
  const now = new Date().toISOString();
  const config: ImageConfig = {
    ...prev.config,
    created: now,
    ...(extra.author ? { author: extra.author } : {}),
    config: runConfig,
    rootfs: { type: "layers", diff_ids: [...prev.config.rootfs.diff_ids, ...(layer ? [layer.diffId] : [])] },
    history: [...(prev.config.history ?? []), { created: now, created_by: createdBy, ...(layer ? {} : { empty_layer: true }) }],
  };
  const layers = layer ? [...prev.layers, layer] : prev.layers;
  const img = await images.createImage(config, layers, [], undefined, { buildCache: true });
  return { id: img.id, config, layers };
}

/** The state's image, recording it first when it has none yet (scratch). */
export async function ensureImage(images: ImageService, s: BuildState): Promise<BuildState & { id: string }> {
  if (s.id) return s as BuildState & { id: string };
  const img = await images.createImage(s.config, s.layers, [], undefined, { buildCache: true });
  return { ...s, id: img.id };
}
