// The image service: everything `docker image …` does, over the content store, the registry
// client, the image store and the snapshotter. Output shapes follow the Docker Engine API.
// It is the only way into those layers: the Docker API, the link's commands and commit use it.
import type { Readable } from "node:stream";
import type { ContentStore } from "../content/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { IndexSchema, ManifestSchema, isIndexType, isManifestType } from "../registry/index.ts";
import { familiarName, formatReference, parseReference, InvalidReferenceError, withDefaultTag } from "../registry/index.ts";
import { loadImages, saveImages } from "./archive.ts";
import { registerLocalImage } from "./commit-image.ts";
import { ImageConfigSchema, type ImageConfig } from "./config.ts";
import { ImageError, noSuchImage } from "./errors.ts";
import type { ImageRecord, ImageStore } from "./image-store.ts";
import { importRootfs, type ImportOptions } from "./import.ts";
import { storeTarAsLayer, type StoredLayer } from "./new-layer.ts";
import { pullImage, type PullProgress } from "./pull.ts";
import { pushImage, type PushProgress } from "./push.ts";
import type { LayerUnpacker } from "./unpacker.ts";
import type { LayerExtractor } from "./layer-extract.ts";
import type { ImageReference, Platform } from "../registry/index.ts";

export interface ImageServiceDeps {
  content: ContentStore;
  registry: RegistryClient;
  unpacker: LayerUnpacker;
  extractor: LayerExtractor;
  images: ImageStore;
  /** Whether a container uses the image (the containers layer answers; none before it exists). */
  inUse?: (imageId: string) => boolean;
  /** Docker's image events (pull, push, tag, untag, delete, save, load, import) for the agent's event stream. */
  onEvent?: (action: string, id: string, attributes: Record<string, string>) => void;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

export type RemoveResult = Array<{ Untagged: string } | { Deleted: string }>;

/**
 * Normalises a user's name for lookups: "busybox" → "busybox:latest". IDs pass through. With a
 * digest the tag says nothing more (`busybox:latest@sha256:…`, as pinned by `docker service
 * create`): the image is found by name@digest, as dockerd does.
 */
export function normalizeName(name: string): string {
  if (/^(sha256:)?[a-f0-9]{4,64}$/.test(name)) return name;
  try {
    const parsed = parseReference(name);
    const ref = parsed.digest ? { ...parsed, tag: null } : withDefaultTag(parsed);
    return formatReference(ref);
  } catch {
    return name;
  }
}

export interface DistributionPlatform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
}

/** Docker's DistributionInspect: the descriptor a reference resolves to and the platforms it serves. */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: DistributionPlatform[];
}

export class ImageService {
  constructor(private readonly deps: ImageServiceDeps) {}

  /** The same service, reaching registries through another client (a command's own credentials). */
  withRegistry(registry: RegistryClient): ImageService {
    return new ImageService({ ...this.deps, registry });
  }

  pull(reference: string, opts: { platform?: Platform; onProgress?: (p: PullProgress) => void } = {}): Promise<ImageRecord> {
    try {
      parseReference(reference);
    } catch (e) {
      throw new ImageError(e instanceof InvalidReferenceError ? e.message : "invalid reference format", "INVALID");
    }
    return pullImage(this.deps, reference, opts).then((img) => {
      this.deps.onEvent?.("pull", reference, { name: reference });
      return img;
    });
  }

  /**
   * `GET /distribution/{name}/json`: what the registry holds for a reference, without pulling it.
   * An index lists its platforms; a single manifest's platform is read from its config blob.
   */
  async distribution(reference: string): Promise<DistributionInspect> {
    let ref: ImageReference;
    try {
      ref = withDefaultTag(parseReference(reference));
    } catch (e) {
      throw new ImageError(e instanceof InvalidReferenceError ? e.message : "invalid reference format", "INVALID");
    }
    const top = await this.deps.registry.getManifest(ref, ref.digest ?? ref.tag ?? "latest");
    const Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    const json: unknown = JSON.parse(top.bytes.toString("utf8"));
    if (isIndexType(top.mediaType)) {
      const index = IndexSchema.parse(json);
      const Platforms = index.manifests.flatMap((m) => (m.platform ? [m.platform] : []));
      return { Descriptor, Platforms };
    }
    if (!isManifestType(top.mediaType)) throw new ImageError(`unsupported manifest media type ${top.mediaType}`, "REGISTRY");
    const manifest = ManifestSchema.parse(json);
    await this.deps.registry.fetchBlob(ref, manifest.config, this.deps.content);
    const config = await this.deps.content.readJson<Partial<Record<"architecture" | "os" | "variant" | "os.version", unknown>>>(
      manifest.config.digest,
    );
    const platform: DistributionPlatform = { architecture: String(config.architecture ?? ""), os: String(config.os ?? "") };
    if (typeof config.variant === "string" && config.variant) platform.variant = config.variant;
    if (typeof config["os.version"] === "string" && config["os.version"]) platform["os.version"] = config["os.version"];
    return { Descriptor, Platforms: [platform] };
  }

  /** `docker push NAME[:TAG]`. As dockerd, the event's ID is the familiar reference and its name the repository. */
  async push(name: string, onProgress?: (p: PushProgress) => void): Promise<{ digest: string; size: number; tag: string }> {
    const pushed = await pushImage(this.deps, name, onProgress);
    const ref = withDefaultTag(parseReference(name));
    this.deps.onEvent?.("push", formatReference(ref), { name: familiarName(ref) });
    return pushed;
  }

  /** `docker save`: one docker-archive of the named images; a `save` event per image, by ID, as in dockerd. */
  async save(names: string[]): Promise<Readable> {
    const { archive, ids } = await saveImages(this.deps, names, {
      find: (name) => this.deps.images.find(normalizeName(name)) ?? this.deps.images.find(name),
      all: () => this.deps.images.list(),
    });
    for (const id of ids) this.deps.onEvent?.("save", id, { name: id });
    return archive;
  }

  /** `docker load`: every image of a docker-archive; a `load` event per image, by ID, as in dockerd, and `onLoaded` hears of each. */
  load(archive: Readable, onLoaded?: (img: { id: string; tags: string[] }) => void): Promise<Array<{ id: string; tags: string[] }>> {
    return loadImages(this.deps, archive, (img) => {
      this.deps.onEvent?.("load", img.id, { name: img.id });
      onLoaded?.(img);
    });
  }

  /** `docker import`: a rootfs tarball as a one-layer image; an `import` event by ID, as in dockerd. */
  async import(tarball: Readable, opts: ImportOptions = {}): Promise<ImageRecord> {
    const img = await importRootfs(this.deps, tarball, opts);
    this.deps.onEvent?.("import", img.id, { name: img.id });
    return img;
  }

  /** Stores an uncompressed layer tar (a container's changes, for commit) as a blob. */
  storeLayer(tar: Readable): Promise<StoredLayer> {
    return storeTarAsLayer(this.deps.content, tar);
  }

  /** Records an image built here from stored layers (commit): config, manifest, snapshots, tags, and the image it came from. */
  createImage(
    config: ImageConfig,
    layers: StoredLayer[],
    repoTags: string[],
    parent?: string,
    opts: { buildCache?: boolean } = {},
  ): Promise<ImageRecord> {
    return registerLocalImage(this.deps, config, layers, repoTags, undefined, parent, opts.buildCache);
  }

  /** A build's result is an image of its own; its steps' images stay build cache. */
  setBuildCache(id: string, buildCache: boolean): void {
    this.deps.images.setBuildCache(id, buildCache);
  }

  /** Every image ID here: the build cache checks its entries against them. */
  has(id: string): boolean {
    return this.deps.images.get(id) !== undefined;
  }

  /**
   * `docker builder prune`: deletes the images kept as build cache that no container uses.
   * Returns their IDs and the bytes their own layers held.
   */
  async pruneBuildCache(): Promise<{ deleted: string[]; space: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const img of this.deps.images.list()) {
      if (!img.buildCache || img.repoTags.length > 0 || this.deps.inUse?.(img.id) || this.deps.images.children(img.id).length > 0) continue;
      const sizes = new Map<string, number>();
      for (const l of img.layers) sizes.set(l.chainId, await this.deps.unpacker.size(l.chainId).catch(() => 0));
      for (const r of await this.deleteImage(img)) if ("Deleted" in r) space += sizes.get(r.Deleted) ?? 0;
      deleted.push(img.id);
    }
    return { deleted, space };
  }

  /** The unpacked size of one layer's snapshot, by chain ID. */
  layerSize(chainId: string): Promise<number> {
    return this.deps.unpacker.size(chainId);
  }

  resolve(name: string): ImageRecord {
    const img = this.deps.images.find(normalizeName(name)) ?? this.deps.images.find(name);
    if (!img) throw noSuchImage(name);
    return img;
  }

  async config(img: ImageRecord): Promise<ImageConfig> {
    return ImageConfigSchema.parse(await this.deps.content.readJson(img.id));
  }

  async list(opts: { all?: boolean; dangling?: boolean } = {}): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const img of this.deps.images.list()) {
      if (opts.dangling === true && img.repoTags.length > 0) continue;
      if (opts.dangling === false && img.repoTags.length === 0) continue;
      // As dockerd: an untagged image that others were committed from is an intermediate one, listed only with `all`.
      if (!opts.all && img.repoTags.length === 0 && img.repoDigests.length === 0 && this.deps.images.children(img.id).length > 0) continue;
      // A build step's result (the classic builder's intermediate image) shows only with `all`, too.
      if (!opts.all && img.buildCache && img.repoTags.length === 0) continue;
      const cfg = await this.config(img);
      out.push({
        Id: img.id,
        ParentId: img.parent ?? "",
        RepoTags: img.repoTags,
        RepoDigests: img.repoDigests,
        Created: Math.floor(Date.parse(img.createdAt) / 1000) || 0,
        Size: img.size,
        SharedSize: -1,
        Labels: cfg.config?.Labels ?? {},
        Containers: -1,
      });
    }
    return out.sort((a, b) => b.Created - a.Created);
  }

  /** `docker image inspect` */
  async inspect(name: string): Promise<Record<string, unknown>> {
    const img = this.resolve(name);
    const cfg = await this.config(img);
    return {
      Id: img.id,
      RepoTags: img.repoTags,
      RepoDigests: img.repoDigests,
      Parent: img.parent ?? "",
      Comment: cfg.history?.at(-1)?.comment ?? "",
      Created: cfg.created ?? img.createdAt,
      DockerVersion: "",
      Author: cfg.author ?? "",
      Config: dockerConfig(cfg),
      Architecture: cfg.architecture,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Os: cfg.os,
      Size: img.size,
      GraphDriver: { Name: "overlay", Data: { Snapshots: img.layers.map((l) => l.chainId).join(":") } },
      RootFS: { Type: "layers", Layers: cfg.rootfs.diff_ids },
      Metadata: { LastTagTime: img.lastTagTime ?? "0001-01-01T00:00:00Z" },
      Descriptor: {
        mediaType: img.manifestMediaType,
        digest: img.manifestDigest,
        size: (await this.deps.content.size(img.manifestDigest)) ?? 0,
      },
    };
  }

  /** `docker history`: newest first, empty layers with size 0, older entries as <missing>. */
  async history(
    name: string,
  ): Promise<Array<{ Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }>> {
    const img = this.resolve(name);
    const cfg = await this.config(img);
    const entries = cfg.history ?? img.layers.map(() => ({}));
    let layer = 0;
    const rows = [];
    for (const h of entries as Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>) {
      let size = 0;
      if (!h.empty_layer) {
        const l = img.layers[layer++];
        size = l ? await this.deps.unpacker.size(l.chainId) : 0;
      }
      rows.push({
        Id: "<missing>",
        Created: Math.floor(Date.parse(h.created ?? "") / 1000) || 0,
        CreatedBy: h.created_by ?? "",
        Tags: null as string[] | null,
        Size: size,
        Comment: h.comment ?? "",
      });
    }
    rows.reverse();
    // As dockerd: the newest rows are the image and then the images it was committed from, while that chain lasts.
    let at: ImageRecord | undefined = img;
    for (const row of rows) {
      if (!at) break;
      row.Id = at.id;
      row.Tags = at.repoTags.length ? at.repoTags : null;
      at = at.parent ? this.deps.images.get(at.parent) : undefined;
    }
    return rows;
  }

  /** `docker tag SOURCE TARGET` */
  tag(source: string, target: string): void {
    const img = this.resolve(source);
    let ref: ImageReference;
    try {
      ref = parseReference(target);
    } catch (e) {
      throw new ImageError(e instanceof Error ? e.message : "invalid reference format", "INVALID");
    }
    if (ref.digest) throw new ImageError("refusing to create a tag with a digest reference", "INVALID");
    const name = formatReference(withDefaultTag(ref));
    this.deps.images.tag(img.id, name);
    this.deps.onEvent?.("tag", img.id, { name });
  }

  /**
   * `docker rmi`: a tag is untagged; an image left with no tags is deleted, with its snapshots
   * and content that nothing else uses. An ID with several tags needs force, as in Docker.
   */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    const id = this.resolve(name).id;
    const result = await this.removeImage(name, opts);
    for (const r of result) {
      if ("Untagged" in r && r.Untagged) this.deps.onEvent?.("untag", id, { name: r.Untagged });
      else if ("Deleted" in r && r.Deleted === id) this.deps.onEvent?.("delete", id, { name: id });
    }
    return result;
  }

  private async removeImage(name: string, opts: { force?: boolean }): Promise<RemoveResult> {
    const img = this.resolve(name);
    const result: RemoveResult = [];
    const tag = normalizeName(name);
    const byTag = img.repoTags.includes(tag);
    // Untagging one of several names never touches the image, so containers using it do not matter.
    const deletes = !byTag || img.repoTags.length === 1;
    if (deletes && this.deps.inUse?.(img.id) && !opts.force) {
      throw new ImageError(
        `conflict: unable to remove repository reference "${name}" (must force) - ` +
          `container is using its referenced image ${img.id.slice(7, 19)}`,
        "CONFLICT",
      );
    }
    const children = this.deps.images.children(img.id).length > 0;
    if (byTag) {
      // By name: untag; the image goes only with its last tag.
      this.deps.images.untag(tag);
      result.push({ Untagged: tag });
      const left = this.deps.images.get(img.id)!;
      if (left.repoTags.length > 0) return result;
      for (const d of left.repoDigests) result.push({ Untagged: d });
      // Images committed from it still need it: dockerd untags it and keeps it, without a word.
      if (children) return result;
    } else {
      if (children) {
        throw new ImageError(
          `conflict: unable to delete ${img.id.slice(7, 19)} (cannot be forced) - image has dependent child images`,
          "CONFLICT",
        );
      }
      // By ID (or digest reference): all its names go, which needs force when there are several.
      if (img.repoTags.length > 1 && !opts.force) {
        throw new ImageError(
          `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
          "CONFLICT",
        );
      }
      for (const t of img.repoTags) result.push({ Untagged: t });
      for (const d of img.repoDigests) result.push({ Untagged: d });
    }
    result.push(...(await this.deleteImage(img)));
    result.push(...(await this.deleteUnusedParents(img)));
    return result;
  }

  /**
   * After an image is deleted, the untagged images it was committed from go too, as dockerd
   * prunes them, while nothing else needs them (no tags, no other children, no container).
   */
  private async deleteUnusedParents(img: ImageRecord): Promise<RemoveResult> {
    const out: RemoveResult = [];
    for (let p = img.parent ? this.deps.images.get(img.parent) : undefined; p; ) {
      if (p.repoTags.length > 0 || p.repoDigests.length > 0 || this.deps.images.children(p.id).length > 0 || this.deps.inUse?.(p.id)) break;
      out.push(...(await this.deleteImage(p)));
      this.deps.onEvent?.("delete", p.id, { name: p.id });
      p = p.parent ? this.deps.images.get(p.parent) : undefined;
    }
    return out;
  }

  /** `docker image prune`: dangling images (no tags), or all unused with `all`. */
  async prune(opts: { all?: boolean } = {}): Promise<{ ImagesDeleted: RemoveResult; SpaceReclaimed: number }> {
    const deleted: RemoveResult = [];
    let space = 0;
    for (const img of this.deps.images.list()) {
      if (!this.deps.images.get(img.id)) continue; // went with an image committed from it
      if (this.deps.inUse?.(img.id)) continue;
      // Only images no other was committed from (dockerd prunes the heads).
      if (this.deps.images.children(img.id).length > 0) continue;
      if (!opts.all && img.repoTags.length > 0) continue;
      for (const t of img.repoTags) deleted.push({ Untagged: t });
      space += img.size;
      deleted.push(...(await this.deleteImage(img)), ...(await this.deleteUnusedParents(img)));
    }
    return { ImagesDeleted: deleted, SpaceReclaimed: space };
  }

  private async deleteImage(img: ImageRecord): Promise<RemoveResult> {
    this.deps.images.delete(img.id);
    const out: RemoveResult = [{ Deleted: img.id }];
    const stillUsed = new Set(this.deps.images.list().flatMap((i) => i.layers.map((l) => l.chainId)));
    for (const l of [...img.layers].reverse()) {
      if (stillUsed.has(l.chainId)) break; // everything below is shared too
      if ((await this.deps.unpacker.children(l.chainId)).length > 0) break;
      await this.deps.unpacker.remove(l.chainId);
      out.push({ Deleted: l.chainId });
    }
    await this.collectGarbage();
    return out;
  }

  /** Drops blobs no image references. */
  async collectGarbage(): Promise<{ removed: string[]; bytes: number }> {
    const roots = this.deps.images.list().flatMap((i) => [i.manifestDigest, ...(i.indexDigest ? [i.indexDigest] : [])]);
    return this.deps.content.gc(roots, async (digest) => {
      const raw = await this.deps.content.readJson<{ mediaType?: string; manifests?: unknown; layers?: unknown }>(digest).catch(() => null);
      if (!raw || typeof raw !== "object") return [];
      const mt = raw.mediaType ?? "";
      if (isIndexType(mt) || Array.isArray(raw.manifests)) {
        const idx = IndexSchema.safeParse(raw);
        // Only manifests we hold matter; the index's other platforms were never fetched.
        return idx.success ? idx.data.manifests.map((m) => m.digest) : [];
      }
      if (isManifestType(mt) || Array.isArray(raw.layers)) {
        const m = ManifestSchema.safeParse(raw);
        return m.success ? [m.data.config.digest, ...m.data.layers.map((l) => l.digest)] : [];
      }
      return [];
    });
  }
}

/** Image config → the Config object of `docker image inspect`. */
function dockerConfig(cfg: ImageConfig): Record<string, unknown> {
  const c = cfg.config ?? {};
  return {
    Hostname: "",
    Domainname: "",
    User: c.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ExposedPorts: c.ExposedPorts ?? undefined,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    Healthcheck: c.Healthcheck ?? undefined,
    Image: "",
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell ? { Shell: c.Shell } : {}),
  };
}
