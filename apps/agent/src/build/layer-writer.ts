// A build step that writes files (COPY, ADD, WORKDIR): its parent image's layers mounted as an
// overlay, the writes made through it (so copy-up keeps the parents' metadata), and the upper
// directory's diff stored as the step's layer. The snapshot is kept under the new chain ID, so
// recording the image unpacks nothing again.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { chainIds } from "../images/index.ts";
import type { ImageService, StoredLayer } from "../images/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import { diffLayer, SnapshotExistsError, type Snapshotter } from "../snapshots/index.ts";

/** The diffID of a layer tar with no entries: a step that changed nothing adds no layer. */
export const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

export interface LayerWriterDeps {
  snapshots: Snapshotter;
  images: ImageService;
  /** Where mount points go while a step writes. */
  workDir: string;
}

/** Runs `write` on the parent's filesystem and returns the layer it made, or null when it changed nothing. */
export async function writeLayer(
  deps: LayerWriterDeps,
  parentDiffIds: string[],
  write: (rootfs: string) => Promise<void>,
): Promise<StoredLayer | null> {
  const parentChain = chainIds(parentDiffIds).at(-1);
  const key = `build-${randomBytes(8).toString("hex")}`;
  const mounts = await deps.snapshots.prepare(key, parentChain);
  const target = join(deps.workDir, key);
  let kept = false;
  try {
    await mkdir(target, { recursive: true, mode: 0o700 });
    await mountAll(mounts, target);
    try {
      await write(target);
    } finally {
      await unmount(target).catch(() => unmount(target, { detach: true }));
    }
    const layer = await deps.images.storeLayer(diffLayer(await deps.snapshots.upperDir(key)));
    if (layer.diffId === EMPTY_LAYER_DIFF_ID) return null;
    try {
      await deps.snapshots.commit(chainIds([...parentDiffIds, layer.diffId]).at(-1)!, key);
      kept = true;
    } catch (e) {
      // The same layer on the same parent exists already (an earlier build): that one serves.
      if (!(e instanceof SnapshotExistsError)) throw e;
    }
    return layer;
  } finally {
    if (!kept) await deps.snapshots.remove(key).catch(() => undefined);
    await rm(target, { recursive: true, force: true }).catch(() => undefined);
  }
}
