import { Readable } from "node:stream";
import { Pack } from "tar";
import { mkdirSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { applyChanges } from "../images/index.ts";
import type { ImageConfig } from "../images/index.ts";
import { ImageError } from "../images/index.ts";
import type { ImageService, StoredLayer } from "../images/index.ts";
import { formatReference, parseReference, withDefaultTag } from "../registry/index.ts";
import { diffLayer, type Snapshotter } from "../snapshots/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import { withFrozen } from "./root-access.ts";
import type { ContainerService } from "./service.ts";

/** The diffID of a layer tar with no entries (two zero blocks): dockerd's layer.EmptyLayer. */
const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

export interface CommitOptions {
  /** repo[:tag] for the new image; untagged when absent. */
  reference?: string;
  /** Dockerfile-style changes (CMD, ENV, ...) applied to the container's config. */
  changes?: string[];
  comment?: string;
  author?: string;
  /** Freeze a running container while its changes are read (Docker's default). */
  pause?: boolean;
}

/**
 * `docker commit`: the container's upper layer (its changes) becomes a new layer on its image,
 * and its configuration (with any changes) the new image's config.
 */
export async function commitContainer(
  deps: { containers: ContainerService; images: ImageService; snapshots: Snapshotter },
  ref: string,
  opts: CommitOptions = {},
): Promise<{ Id: string }> {
  const rec = deps.containers.get(ref);
  let tags: string[] = [];
  if (opts.reference) {
    const r = parseReference(opts.reference);
    if (r.digest) throw new ImageError("refusing to create a tag with a digest reference", "INVALID");
    tags = [formatReference(withDefaultTag(r))];
  }
  const img = deps.images.resolve(rec.image);
  const base = await deps.images.config(img);
  const runConfig = applyChanges(
    {
      ...(base.config ?? {}),
      Cmd: rec.config.Cmd ?? base.config?.Cmd ?? null,
      Entrypoint: rec.config.Entrypoint ?? base.config?.Entrypoint ?? null,
      Env: rec.env,
      WorkingDir: rec.workingDir === "/" && !base.config?.WorkingDir ? "" : rec.workingDir,
      User: rec.user,
      Labels: rec.config.Labels ?? {},
      ...(rec.config.ExposedPorts ? { ExposedPorts: rec.config.ExposedPorts } : {}),
      ...(rec.config.StopSignal ? { StopSignal: rec.config.StopSignal } : {}),
    },
    opts.changes ?? [],
  );

  // Only a running container is frozen; a stopped, created or already paused one is read as it is.
  const readLayer = async (): Promise<StoredLayer> =>
    deps.images.storeLayer(diffLayer(await deps.snapshots.upperDir(`container-${rec.id}`)));
  const layer = opts.pause === false ? await readLayer() : await withFrozen(deps.containers, rec.id, readLayer);

  // Nothing changed: as dockerd, no layer is added and the history entry says so.
  const empty = layer.diffId === EMPTY_LAYER_DIFF_ID;
  const now = new Date().toISOString();
  const config: ImageConfig = {
    ...base,
    created: now,
    ...(opts.author ? { author: opts.author } : {}),
    config: runConfig,
    rootfs: { type: "layers", diff_ids: empty ? base.rootfs.diff_ids : [...base.rootfs.diff_ids, layer.diffId] },
    history: [
      ...(base.history ?? []),
      {
        created: now,
        created_by: [rec.path, ...rec.args].join(" "),
        ...(opts.comment ? { comment: opts.comment } : {}),
        ...(opts.author ? { author: opts.author } : {}),
        ...(empty ? { empty_layer: true } : {}),
      },
    ],
  };
  const layers = [
    ...img.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: l.diffId })),
    ...(empty ? [] : [layer]),
  ];
  const image = await deps.images.createImage(config, layers, tags, img.id);
  return { Id: image.id };
}

/** `docker export`: the container's whole filesystem as one tar stream. */
export async function exportContainer(deps: { containers: ContainerService; snapshots: Snapshotter }, ref: string): Promise<Readable> {
  const rec = deps.containers.get(ref);
  // A running container's rootfs is mounted already; an overlay's upperdir cannot be mounted twice,
  // so a stopped one gets a mount of its own for the export.
  const running = deps.containers.isRunning(rec);
  const dir = running ? deps.containers.rootfs(rec.id) : join(deps.containers.store.dir(rec.id), `export-${Date.now()}`);
  if (!running) {
    mkdirSync(dir, { recursive: true });
    await mountAll(await deps.snapshots.mounts(`container-${rec.id}`), dir);
  }
  const cleanup = async () => {
    if (running) return;
    await unmount(dir).catch(() => unmount(dir, { detach: true }));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const entries = (await readdir(dir)).sort();
    const pack = new Pack({ cwd: dir, portable: false, strict: true });
    return Readable.from(
      (async function* () {
        try {
          for (const e of entries) pack.add(e);
          pack.end();
          for await (const chunk of pack as unknown as AsyncIterable<Buffer>) yield chunk;
        } finally {
          await cleanup();
        }
      })(),
    );
  } catch (e) {
    await cleanup();
    throw e;
  }
}
