// Image metadata: which images exist (by ID = config digest, as in Docker), their manifests,
// layers and snapshot chain, and the names that point at them. One JSON file, written atomically.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../state/index.ts";

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

export const ImageRecordSchema = z.object({
  id: Digest,
  manifestDigest: Digest,
  manifestMediaType: z.string(),
  /** Set when the image was pulled through an index (multi-platform). */
  indexDigest: Digest.nullable(),
  repoTags: z.array(z.string()),
  /** name@digest for each repository the image was pulled from or pushed to. */
  repoDigests: z.array(z.string()),
  layers: z.array(
    z.object({ digest: Digest, size: z.number().int().nonnegative(), mediaType: z.string(), diffId: Digest, chainId: Digest }),
  ),
  /** Sum of the unpacked layer sizes (Docker's Size). */
  size: z.number().int().nonnegative(),
  createdAt: z.string(),
  lastTagTime: z.string().nullable(),
  /** The image this one was committed from (dockerd's image metadata `parent`); absent for pulled and loaded images. */
  parent: Digest.optional(),
  /** A build step's result kept as cache: hidden from `docker images` unless all are asked for. */
  buildCache: z.boolean().optional(),
});
export type ImageRecord = z.infer<typeof ImageRecordSchema>;

const FileSchema = z.object({ version: z.literal(1), images: z.array(ImageRecordSchema) });

export class ImageStore {
  private images = new Map<string, ImageRecord>();
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, "images.json");
    if (existsSync(this.file)) {
      const parsed = FileSchema.parse(JSON.parse(readFileSync(this.file, "utf8")));
      for (const img of parsed.images) this.images.set(img.id, img);
    }
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify({ version: 1, images: [...this.images.values()] }, null, 1), 0o600);
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  /** Finds by tag (familiar or full), by name@digest, by full or short ID (≥ 4 hex chars, unique). */
  find(nameOrId: string): ImageRecord | undefined {
    for (const img of this.images.values()) if (img.repoTags.includes(nameOrId) || img.repoDigests.includes(nameOrId)) return img;
    const hex = nameOrId.replace(/^sha256:/, "");
    if (/^[a-f0-9]{4,64}$/.test(hex)) {
      const hits = [...this.images.values()].filter((i) => i.id.slice(7).startsWith(hex));
      if (hits.length === 1) return hits[0];
    }
    return undefined;
  }

  /** Adds or merges an image, moving its tags off any image that held them. */
  put(img: ImageRecord): ImageRecord {
    for (const tag of img.repoTags) this.untagAll(tag, img.id);
    const existing = this.images.get(img.id);
    const merged: ImageRecord = existing
      ? {
          ...existing,
          repoTags: uniq([...existing.repoTags, ...img.repoTags]),
          repoDigests: uniq([...existing.repoDigests, ...img.repoDigests]),
          lastTagTime: img.lastTagTime ?? existing.lastTagTime,
          ...((existing.parent ?? img.parent) ? { parent: existing.parent ?? img.parent } : {}),
          // An image is build cache only while nothing else made it too.
          ...(existing.buildCache && img.buildCache ? { buildCache: true } : { buildCache: undefined }),
        }
      : img;
    this.images.set(img.id, merged);
    this.save();
    return merged;
  }

  tag(id: string, tag: string): void {
    const img = this.images.get(id);
    if (!img) throw new Error(`no image ${id}`);
    this.untagAll(tag, id);
    if (!img.repoTags.includes(tag)) img.repoTags.push(tag);
    img.lastTagTime = new Date().toISOString();
    this.save();
  }

  /** Marks an image as build cache, or as an image of its own (a build's result). */
  setBuildCache(id: string, buildCache: boolean): void {
    const img = this.images.get(id);
    if (!img || Boolean(img.buildCache) === buildCache) return;
    if (buildCache) img.buildCache = true;
    else delete img.buildCache;
    this.save();
  }

  /** Removes one tag; returns the image it was on. */
  untag(tag: string): ImageRecord | undefined {
    for (const img of this.images.values()) {
      if (img.repoTags.includes(tag)) {
        img.repoTags = img.repoTags.filter((t) => t !== tag);
        const repo = tag.slice(0, tag.lastIndexOf(":"));
        img.repoDigests = img.repoDigests.filter(
          (d) => img.repoTags.some((t) => t.startsWith(`${d.split("@")[0]}:`)) || !d.startsWith(`${repo}@`),
        );
        this.save();
        return img;
      }
    }
    return undefined;
  }

  addRepoDigest(id: string, repoDigest: string): void {
    const img = this.images.get(id);
    if (img && !img.repoDigests.includes(repoDigest)) {
      img.repoDigests.push(repoDigest);
      this.save();
    }
  }

  /** Images recorded as committed from `id` (dockerd's image store Children). */
  children(id: string): ImageRecord[] {
    return [...this.images.values()].filter((i) => i.parent === id);
  }

  delete(id: string): void {
    this.images.delete(id);
    this.save();
  }

  private untagAll(tag: string, exceptId: string): void {
    for (const other of this.images.values()) {
      if (other.id !== exceptId && other.repoTags.includes(tag)) other.repoTags = other.repoTags.filter((t) => t !== tag);
    }
  }
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
