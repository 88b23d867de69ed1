import type { ContentStore } from "../content/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { hostPlatform, RegistryError, type Platform } from "../registry/index.ts";
import { familiarName, formatReference, parseReference, withDefaultTag } from "../registry/index.ts";
import { ImageConfigSchema } from "./config.ts";
import { ImageError } from "./errors.ts";
import type { ImageRecord, ImageStore } from "./image-store.ts";
import { chainIds } from "./layers.ts";
import { fillFromStoredLayer, type LayerExtractor } from "./layer-extract.ts";
import type { LayerUnpacker } from "./unpacker.ts";

/** Docker-like per-layer progress: id is the short layer digest. */
export type PullProgress =
  | { id: string; status: "Waiting" | "Already exists" | "Verifying Checksum" | "Download complete" | "Extracting" | "Pull complete" }
  | { id: string; status: "Downloading"; current: number; total: number };

export interface PullDeps {
  content: ContentStore;
  registry: RegistryClient;
  unpacker: LayerUnpacker;
  extractor: LayerExtractor;
  images: ImageStore;
}

const short = (d: string) => d.slice(7, 19);

/** Pull = resolve → fetch into content (verified) → unpack into snapshots → record. */
export async function pullImage(
  deps: PullDeps,
  reference: string,
  opts: { platform?: Platform; onProgress?: (p: PullProgress) => void; concurrency?: number } = {},
): Promise<ImageRecord> {
  const ref = withDefaultTag(parseReference(reference));
  const progress = opts.onProgress ?? (() => {});
  const resolved = await deps.registry.resolve(ref, opts.platform ?? hostPlatform()).catch((e: unknown) => {
    // A repository or manifest the registry does not have stays a not-found (dockerd's 404); the rest is the registry failing.
    const notFound = e instanceof RegistryError && e.code === "NOT_FOUND";
    throw new ImageError(e instanceof Error ? e.message : String(e), notFound ? "NOT_FOUND" : "REGISTRY");
  });
  const { manifest } = resolved;
  await deps.content.put(resolved.manifestBytes, resolved.manifestDigest);
  if (resolved.index) await deps.content.put(resolved.index.bytes, resolved.index.digest);

  await deps.registry.fetchBlob(ref, manifest.config, deps.content);
  const config = ImageConfigSchema.parse(await deps.content.readJson(manifest.config.digest));
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new ImageError(`image config lists ${diffIds.length} layers but the manifest has ${manifest.layers.length}`, "INVALID");
  }
  const chains = chainIds(diffIds);

  // Layers download (3 at a time) and unpack (2 at a time) side by side, each into a snapshot
  // of its own, and are committed in order as each one's parent is in place.
  const need = await Promise.all(chains.map(async (c) => !(await deps.unpacker.has(c))));
  for (const [i, l] of manifest.layers.entries()) progress({ id: short(l.digest), status: need[i] ? "Waiting" : "Already exists" });
  const downloadSlots = new Semaphore(opts.concurrency ?? 3);
  const unpackSlots = new Semaphore(2);
  const committed: Array<Promise<number>> = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const parentDone = i === 0 ? Promise.resolve(0) : committed[i - 1]!;
    committed.push(
      (async () => {
        if (!need[i]) {
          await parentDone;
          return deps.unpacker.size(chains[i]!);
        }
        await downloadSlots.run(async () => {
          let current = 0;
          let last = 0;
          await deps.registry.fetchBlob(ref, layer, deps.content, (n) => {
            current += n;
            // At most ten updates a second per layer: they travel over the link to browsers.
            const now = Date.now();
            if (now - last < 100 && current < layer.size) return;
            last = now;
            progress({ id: short(layer.digest), status: "Downloading", current, total: layer.size });
          });
          progress({ id: short(layer.digest), status: "Download complete" });
        });
        const unpacked = await unpackSlots.run(async () => {
          progress({ id: short(layer.digest), status: "Extracting" });
          return deps.unpacker.unpack(chains[i]!, fillFromStoredLayer(deps.extractor, deps.content, layer, diffIds[i]!));
        });
        try {
          await parentDone;
        } catch (e) {
          await unpacked.discard();
          throw e;
        }
        const { size } = await unpacked.commit(i === 0 ? null : chains[i - 1]!);
        progress({ id: short(layer.digest), status: "Pull complete" });
        return size;
      })(),
    );
  }
  // Wait for all, so no unpack is still writing when an error is reported.
  const settled = await Promise.allSettled(committed);
  const failure = settled.find((r) => r.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
  const sizes = settled.map((r) => (r as PromiseFulfilledResult<number>).value);

  const id = manifest.config.digest;
  const record: ImageRecord = {
    id,
    manifestDigest: resolved.manifestDigest,
    manifestMediaType: resolved.manifestMediaType,
    indexDigest: resolved.index?.digest ?? null,
    repoTags: ref.tag ? [formatReference({ ...ref, digest: null })] : [],
    repoDigests: [`${familiarName(ref)}@${resolved.digest}`],
    layers: manifest.layers.map((l, i) => ({
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId: diffIds[i]!,
      chainId: chains[i]!,
    })),
    size: sizes.reduce((a, b) => a + b, 0),
    createdAt: config.created ?? new Date().toISOString(),
    lastTagTime: ref.tag ? new Date().toISOString() : null,
  };
  return deps.images.put(record);
}

/** At most `n` tasks at once. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
