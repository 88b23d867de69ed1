// `docker diff`: what a container changed in its filesystem, relative to its image. dockerd
// compares the container's whole view with its image's (a naive diff); the same answer comes from
// walking only the writable layer (overlay upperdir) and looking each entry up in the image's
// layers: a whiteout (char 0/0) is a deletion, an opaque directory hides what the image had in it,
// and an entry is a modification only when its stat differs as dockerd's statDifferent says.
import type { BigIntStats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { findXattrs } from "../mount/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerService } from "./service.ts";

/** Docker's ChangeType: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2;
export interface FilesystemChange {
  Path: string;
  Kind: ChangeKind;
}

const MODIFIED = 0;
const ADDED = 1;
const DELETED = 2;

/** The xattr overlayfs marks an opaque directory with (the snapshotter unpacks `.wh..wh..opq` into it). */
const OPAQUE_XATTR = "trusted.overlay.opaque";

/**
 * What dockerd's init layer holds under every container (mount points for its /etc files, /dev,
 * /proc, /sys): they are never part of a container's changes. runc makes the missing ones in the
 * writable layer here, so they are left out, and their parents count as present in the image.
 */
const INIT_LAYER_PATHS = new Set([
  "/dev/pts",
  "/dev/shm",
  "/dev/console",
  "/dev/mqueue",
  "/proc",
  "/sys",
  "/.dockerenv",
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/hostname",
  "/etc/mtab",
]);
const INIT_LAYER_DIRS = new Set(["/dev", "/etc"]);

/** At most this many changes are reported: a container that rewrote a huge tree still gets an answer in bounded memory. */
const MAX_CHANGES = 1_000_000;

const isWhiteout = (st: BigIntStats) => st.isCharacterDevice() && st.rdev === 0n;

/** Opaque directories of one image layer, by path inside it; committed layers never change, so this is kept per layer. */
const opaqueCache = new Map<string, Promise<Set<string>>>();
const OPAQUE_CACHE_MAX = 512;

async function opaqueDirs(layer: string): Promise<Set<string>> {
  let hit = opaqueCache.get(layer);
  if (!hit) {
    hit = findXattrs(layer, `^${OPAQUE_XATTR.replace(/\./g, "\\.")}$`).then((found) => {
      const out = new Set<string>();
      for (const [abs, attrs] of found) {
        if (attrs.get(OPAQUE_XATTR)?.toString() !== "y") continue;
        const rel = abs.slice(layer.length) || "/";
        out.add(rel.startsWith("/") ? rel : `/${rel}`);
      }
      return out;
    });
    hit.catch(() => opaqueCache.delete(layer));
    if (opaqueCache.size >= OPAQUE_CACHE_MAX) opaqueCache.delete(opaqueCache.keys().next().value!);
    opaqueCache.set(layer, hit);
  }
  return hit;
}

async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch {
    return null;
  }
}

/** The image's view (its layers, top first) of one path, without the container's layer. */
class ImageView {
  private constructor(private readonly layers: Array<{ dir: string; opaque: Set<string> }>) {}

  static async open(lowerDirs: string[]): Promise<ImageView> {
    return new ImageView(await Promise.all(lowerDirs.map(async (dir) => ({ dir, opaque: await opaqueDirs(dir) }))));
  }

  /**
   * Where `path` is visible in layer i: "here", "absent" (look further down) or "hidden" (a
   * whiteout, a non-directory parent or an opaque parent in this layer ends the search).
   */
  private async lookIn(i: number, parts: string[]): Promise<{ at: "here"; st: BigIntStats } | { at: "absent" | "hidden" }> {
    const { dir, opaque } = this.layers[i]!;
    let opaqueAbove = false;
    for (let n = 1; n < parts.length; n++) {
      const st = await lstatOrNull(join(dir, ...parts.slice(0, n)));
      if (!st) return { at: "absent" };
      if (isWhiteout(st) || !st.isDirectory()) return { at: "hidden" };
      if (opaque.has(`/${parts.slice(0, n).join("/")}`)) opaqueAbove = true;
    }
    const st = await lstatOrNull(join(dir, ...parts));
    if (st) return isWhiteout(st) ? { at: "hidden" } : { at: "here", st };
    return { at: opaqueAbove ? "hidden" : "absent" };
  }

  async stat(path: string): Promise<BigIntStats | null> {
    const parts = path.split("/").filter(Boolean);
    for (let i = 0; i < this.layers.length; i++) {
      const r = await this.lookIn(i, parts);
      if (r.at === "here") return r.st;
      if (r.at === "hidden") return null;
    }
    return null;
  }

  /** The names the image shows inside directory `path`. */
  async children(path: string): Promise<string[]> {
    const parts = path.split("/").filter(Boolean);
    const seen = new Set<string>();
    const hidden = new Set<string>();
    for (let i = 0; i < this.layers.length; i++) {
      const r = await this.lookIn(i, parts);
      if (r.at !== "here") {
        if (r.at === "hidden") break;
        continue;
      }
      if (!r.st.isDirectory()) break;
      const dir = join(this.layers[i]!.dir, ...parts);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (seen.has(name) || hidden.has(name)) continue;
        const st = await lstatOrNull(join(dir, name));
        if (!st) continue;
        if (isWhiteout(st)) hidden.add(name);
        else seen.add(name);
      }
      // An opaque directory shows nothing of the layers below it.
      if (this.layers[i]!.opaque.has(`/${parts.join("/")}`)) break;
    }
    return [...seen];
  }
}

/** dockerd's statDifferent: type and permissions, owner, device; size and mtime for all but directories. */
function statDifferent(a: BigIntStats, b: BigIntStats): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  if (a.isDirectory()) return false;
  return a.size !== b.size || a.mtimeNs !== b.mtimeNs;
}

/** Changes between an overlay upperdir and the image layers under it (top first), sorted by path. */
export async function layerChanges(upperDir: string, lowerDirs: string[]): Promise<FilesystemChange[]> {
  const image = await ImageView.open(lowerDirs);
  const upperOpaque = await findXattrs(upperDir, `^${OPAQUE_XATTR.replace(/\./g, "\\.")}$`);
  const isOpaque = (abs: string) => upperOpaque.get(abs)?.get(OPAQUE_XATTR)?.toString() === "y";
  const out: FilesystemChange[] = [];
  const add = (Path: string, Kind: ChangeKind) => {
    if (out.length >= MAX_CHANGES) throw new ContainerError(`the container changed more than ${MAX_CHANGES} files`, "FAILED");
    out.push({ Path, Kind });
  };

  /** Walks one directory of the writable layer; says whether anything in it changed. */
  const visit = async (dirPath: string, absDir: string, opaque: boolean, inImage: boolean): Promise<boolean> => {
    let changed = false;
    const names = await readdir(absDir);
    const present = new Set<string>();
    for (const name of names) {
      const path = dirPath === "/" ? `/${name}` : `${dirPath}/${name}`;
      const abs = join(absDir, name);
      const st = await lstatOrNull(abs);
      if (!st) continue;
      if (INIT_LAYER_PATHS.has(path)) continue;
      const old = inImage ? await image.stat(path) : null;
      if (isWhiteout(st)) {
        if (old && !opaque) {
          add(path, DELETED);
          changed = true;
        }
        continue;
      }
      present.add(name);
      const virtualDir = INIT_LAYER_DIRS.has(path) && st.isDirectory();
      if (!old && !virtualDir) {
        add(path, ADDED);
        changed = true;
        if (st.isDirectory()) await visit(path, abs, false, false);
        continue;
      }
      const own = old !== null && statDifferent(old, st);
      if (own) add(path, MODIFIED);
      if (st.isDirectory()) {
        const at = out.length;
        const inner = await visit(path, abs, isOpaque(abs), old?.isDirectory() === true || virtualDir);
        // A directory with changes inside is itself reported as modified, before them (as dockerd's addChanges).
        if (inner && !own) out.splice(at, 0, { Path: path, Kind: MODIFIED });
        changed ||= inner;
      }
      changed ||= own;
    }
    // An opaque directory hides everything the image had in it: each of those is deleted.
    if (opaque && inImage) {
      for (const name of await image.children(dirPath)) {
        if (present.has(name)) continue;
        const path = dirPath === "/" ? `/${name}` : `${dirPath}/${name}`;
        if (INIT_LAYER_PATHS.has(path)) continue;
        add(path, DELETED);
        changed = true;
      }
    }
    return changed;
  };

  await visit("/", upperDir, isOpaque(upperDir), true);
  return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}

/** The overlay directories of a container's snapshot: its writable layer and its image's layers, top first. */
function overlayDirs(mounts: Awaited<ReturnType<Snapshotter["mounts"]>>): { upper: string; lowers: string[] } | null {
  const m = mounts.find((x) => x.type === "overlay");
  if (!m) return null;
  const opt = (key: string) => m.options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const upper = opt("upperdir");
  if (!upper) return null;
  return { upper, lowers: (opt("lowerdir") ?? "").split(":").filter(Boolean) };
}

/** `GET /containers/{id}/changes`, running or not. */
export async function containerChanges(
  deps: { containers: ContainerService; snapshots: Snapshotter },
  ref: string,
): Promise<FilesystemChange[]> {
  const rec = deps.containers.get(ref);
  const key = deps.containers.paths.snapshotKey(rec.id);
  const dirs = overlayDirs(await deps.snapshots.mounts(key));
  // A snapshot without an overlay (an image with no layers) has every file of the container as its own.
  if (!dirs) return layerChanges(await deps.snapshots.upperDir(key), []);
  return layerChanges(dirs.upper, dirs.lowers);
}
