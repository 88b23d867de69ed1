// `docker save` / `docker load`: the docker-archive format (manifest.json, a config JSON and one
// uncompressed tar per layer). Load accepts archives made by Docker and by `skopeo copy … docker-archive:`.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { PassThrough, type Readable } from "node:stream";
import * as tar from "tar";
import { z } from "zod";
import { formatReference, parseReference, withDefaultTag } from "../registry/index.ts";
import { ImageConfigSchema } from "./config.ts";
import { registerLocalImage, type LocalImageDeps } from "./commit-image.ts";
import { ImageError, noSuchImage } from "./errors.ts";
import type { ImageRecord } from "./image-store.ts";
import { decompressLayer } from "./layers.ts";
import { storeTarAsLayer } from "./new-layer.ts";

const ArchiveManifestSchema = z
  .array(
    z.object({
      Config: z.string().min(1).max(512),
      RepoTags: z.array(z.string()).nullable().optional(),
      Layers: z.array(z.string().min(1).max(512)).max(1000),
    }),
  )
  .max(1000)
  // What dockerd 20.10 saves for no names at all: an archive of no images, which loads as nothing.
  .nullable();

type Deps = LocalImageDeps;

/** How `docker save` picks images and tags from its names, in dockerd's manner. */
export interface SaveLookup {
  /** By tag, digest reference or (short) ID. */
  find: (name: string) => ImageRecord | undefined;
  all: () => ImageRecord[];
}

/**
 * The images `names` stand for, each with the tags its archive entry carries, as dockerd chooses
 * them: a name:tag brings that tag; a bare repository name every tag of that repository; an ID or
 * a digest reference the image alone, with no tag (loaded back, it stays untagged).
 */
function selectForSave(names: string[], lookup: SaveLookup): Array<{ img: ImageRecord; tags: string[] }> {
  const chosen = new Map<string, { img: ImageRecord; tags: string[] }>();
  const add = (img: ImageRecord, tag?: string) => {
    const entry = chosen.get(img.id) ?? { img, tags: [] };
    chosen.set(img.id, entry);
    if (tag && !entry.tags.includes(tag)) entry.tags.push(tag);
  };
  for (const name of names) {
    let ref: ReturnType<typeof parseReference> | null = null;
    if (!/^(sha256:)?[a-f0-9]{64}$/.test(name)) {
      try {
        ref = parseReference(name);
      } catch {
        ref = null;
      }
    }
    if (ref && !ref.digest && !ref.tag) {
      const repo = formatReference(ref);
      const tagged = lookup
        .all()
        .flatMap((img) => img.repoTags.filter((t) => t.slice(0, t.lastIndexOf(":")) === repo).map((t) => ({ img, t })));
      for (const { img, t } of tagged) add(img, t);
      if (tagged.length) continue;
    }
    const tag = ref?.tag && !ref.digest ? formatReference(ref) : undefined;
    const img = lookup.find(tag ?? name);
    if (!img) throw noSuchImage(name);
    add(img, tag);
  }
  return [...chosen.values()];
}

/** Writes the named images as one docker-archive tar; returns it as a stream, and the IDs of the images in it. */
export async function saveImages(deps: Deps, names: string[], lookup: SaveLookup): Promise<{ archive: Readable; ids: string[] }> {
  const selected = selectForSave(names, lookup);
  const work = await mkdtemp(join(tmpdir(), "berth-save-"));
  try {
    await mkdir(join(work, "blobs", "sha256"), { recursive: true });
    const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    const files = new Set<string>(["manifest.json"]);
    for (const { img, tags } of selected) {
      const cfgPath = `blobs/sha256/${img.id.slice(7)}`;
      if (!files.has(cfgPath)) {
        await writeFile(join(work, cfgPath), await deps.content.read(img.id));
        files.add(cfgPath);
      }
      const layers: string[] = [];
      for (const l of img.layers) {
        const p = `blobs/sha256/${l.diffId.slice(7)}`;
        if (!files.has(p)) {
          // Layers in the archive are uncompressed, named by their diffID.
          const { tar: plain } = decompressLayer(deps.content.readStream(l.digest));
          await pipeline(plain, createWriteStream(join(work, p)));
          files.add(p);
        }
        layers.push(p);
      }
      // dockerd writes null for an image saved without a tag.
      manifest.push({ Config: cfgPath, RepoTags: tags.length ? tags : null, Layers: layers });
      for (const t of tags) {
        const i = t.lastIndexOf(":");
        const repo = t.slice(0, i);
        const byTag = repositories[repo] ?? {};
        repositories[repo] = byTag;
        byTag[t.slice(i + 1)] = img.layers.at(-1)?.diffId.slice(7) ?? "";
      }
    }
    // dockerd encodes an empty list of images as null.
    await writeFile(join(work, "manifest.json"), JSON.stringify(manifest.length ? manifest : null));
    // The legacy tag file exists only when some image carries a tag, as in dockerd.
    if (Object.keys(repositories).length) {
      await writeFile(join(work, "repositories"), JSON.stringify(repositories));
      files.add("repositories");
    }
    const out = new PassThrough();
    const pack = tar.c({ cwd: work, portable: true, noMtime: false }, [...files]);
    pack.on("error", (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
    pack.pipe(out);
    out.on("close", () => void rm(work, { recursive: true, force: true }));
    return { archive: out, ids: selected.map((x) => x.img.id) };
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

function safeTag(name: string): string | null {
  try {
    const r = parseReference(name);
    return r.digest ? null : formatReference(withDefaultTag(r));
  } catch {
    return null;
  }
}

/**
 * Loads every image in a docker-archive tar; returns what was loaded, Docker-style. `onLoaded` hears
 * of each image as it is recorded, so images before a bad entry are reported as dockerd does.
 */
export async function loadImages(
  deps: Deps,
  archive: Readable,
  onLoaded: (img: { id: string; tags: string[] }) => void = () => {},
): Promise<Array<{ id: string; tags: string[] }>> {
  const work = await mkdtemp(join(tmpdir(), "berth-load-"));
  try {
    // Only plain files and directories; node-tar already refuses absolute and `..` paths here.
    await pipeline(
      archive,
      tar.x({
        cwd: work,
        strict: true,
        filter: (_p, entry) => "type" in entry && (entry.type === "File" || entry.type === "Directory" || entry.type === "OldFile"),
      }),
    ).catch((e: unknown) => {
      throw new ImageError(`invalid image archive: ${e instanceof Error ? e.message : String(e)}`, "INVALID");
    });
    const inside = async (p: string) => {
      const full = resolve(work, p);
      const real = await realpath(full).catch(() => null);
      const root = await realpath(work);
      if (!real || (real !== root && !real.startsWith(root + sep)) || relative(root, real).startsWith("..")) {
        throw new ImageError(`invalid image archive: ${p} is missing or outside the archive`, "INVALID");
      }
      if (!(await stat(real)).isFile()) throw new ImageError(`invalid image archive: ${p} is not a file`, "INVALID");
      return real;
    };
    const manifestPath = await inside("manifest.json").catch(() => {
      throw new ImageError("invalid image archive: no manifest.json (is this a `docker save` tar?)", "INVALID");
    });
    const parsed = ArchiveManifestSchema.safeParse(JSON.parse(await readFile(manifestPath, "utf8")));
    if (!parsed.success) throw new ImageError(`invalid image archive: manifest.json: ${parsed.error.issues[0]?.message}`, "INVALID");
    const loaded: Array<{ id: string; tags: string[] }> = [];
    for (const entry of parsed.data ?? []) {
      const configRaw = await readFile(await inside(entry.Config));
      const config = ImageConfigSchema.parse(JSON.parse(configRaw.toString("utf8")));
      const layers = [];
      for (const l of entry.Layers) {
        // Layers may be plain tars (Docker, skopeo) gzip or zstd; decompressLayer recognises each.
        const { tar: plain } = decompressLayer(createReadStream(await inside(l)));
        layers.push(await storeTarAsLayer(deps.content, plain));
      }
      const tags = (entry.RepoTags ?? []).map((t) => {
        const s = safeTag(t);
        if (!s) throw new ImageError(`invalid image archive: bad tag ${JSON.stringify(t)}`, "INVALID");
        return s;
      });
      // registerLocalImage checks the layers against the config's diff_ids.
      // The archive's config bytes are kept as they are, so the image keeps its ID.
      const img = await registerLocalImage(deps, config, layers, tags, configRaw);
      loaded.push({ id: img.id, tags });
      onLoaded({ id: img.id, tags });
    }
    return loaded;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
