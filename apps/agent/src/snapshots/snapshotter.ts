import { renameSync } from "node:fs";
import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Mount } from "../mount/index.ts";
import { MetadataJournal, type SnapshotKind, type SnapshotRecord, type SnapshotState } from "./metadata-journal.ts";
import { SnapshotExistsError, SnapshotInUseError, SnapshotNotFoundError, SnapshotStateError } from "./errors.ts";

/*
 * An overlay snapshotter in containerd's shape. Layout under root:
 *   metadata.json            key → { id, kind, parent }: a checkpoint, written atomically
 *   metadata.journal         changes since the checkpoint, one appended line each (metadata-journal.ts)
 *   snapshots/<id>/fs        the snapshot's own layer (overlay upperdir)
 *   snapshots/<id>/work      overlay workdir (same filesystem as fs, as overlayfs requires)
 * Snapshots are stacked by parent key; only committed snapshots can be parents, so a chain is
 * immutable below its top. Methods return Mount descriptions; mount/ performs them.
 */

export type { SnapshotKind } from "./metadata-journal.ts";

export interface SnapshotInfo {
  key: string;
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  /** Bytes in the snapshot's own layer, recorded at commit. */
  size?: number;
}

/** A removed snapshot's directory while it is being deleted (never a snapshot id: ids are numbers). */
const TRASH_PREFIX = "rm-";

/** Apparent size of a layer directory: regular files and symlinks, hardlinks counted once. */
async function layerSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        await walk(p);
      } else if (st.isFile() || st.isSymbolicLink()) {
        const ino = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(ino)) continue;
        seen.add(ino);
        total += st.size;
      }
    }
  };
  await walk(dir);
  return total;
}

export class Snapshotter {
  readonly root: string;
  private state?: SnapshotState;
  private readonly journal: MetadataJournal;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly deleting = new Set<Promise<void>>();

  constructor(root: string) {
    this.root = resolve(root);
    // Paths end up inside overlay's "lowerdir=a:b,upperdir=..." option string.
    if (/[,:]/.test(this.root)) throw new Error(`snapshotter root ${this.root} must not contain ',' or ':'`);
    this.journal = new MetadataJournal(this.root);
  }

  /** The snapshot's own layer directory (overlay upperdir); layers are unpacked into it. */
  fsDir(id: string): string {
    return join(this.root, "snapshots", id, "fs");
  }

  private workDir(id: string): string {
    return join(this.root, "snapshots", id, "work");
  }

  /** Serializes operations: each reads the records and journals its change. */
  private exclusive<T>(fn: (s: SnapshotState) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => fn(this.load()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private load(): SnapshotState {
    this.state ??= this.journal.load();
    return this.state;
  }

  /** Journals the current records of `keys` (absent ones as deleted), all or none. */
  private save(s: SnapshotState, ...keys: string[]): void {
    this.journal.append({ nextId: s.nextId, changes: keys.map((k) => [k, s.snapshots.get(k) ?? null]) }, s);
  }

  private get(s: { snapshots: Map<string, SnapshotRecord> }, key: string): SnapshotRecord {
    const r = s.snapshots.get(key);
    if (!r) throw new SnapshotNotFoundError(key);
    return r;
  }

  /** Layer directories of `rec`'s parents, newest first (overlay lowerdir order). */
  private parentDirs(s: { snapshots: Map<string, SnapshotRecord> }, rec: SnapshotRecord): string[] {
    const dirs: string[] = [];
    const seen = new Set<string>();
    for (let key = rec.parent; key !== undefined; ) {
      if (seen.has(key)) throw new SnapshotStateError(`snapshot parent chain loops at ${key}`);
      seen.add(key);
      const p = this.get(s, key);
      dirs.push(this.fsDir(p.id));
      key = p.parent;
    }
    return dirs;
  }

  private mountsOf(s: { snapshots: Map<string, SnapshotRecord> }, key: string, rec: SnapshotRecord): Mount[] {
    const lowers = this.parentDirs(s, rec);
    if (rec.kind === "committed") throw new SnapshotStateError(`snapshot ${key} is committed; create a view or an active snapshot on it`);
    if (rec.kind === "active") {
      if (lowers.length === 0) return [{ type: "bind", source: this.fsDir(rec.id), options: ["rw", "rbind"] }];
      return [
        {
          type: "overlay",
          source: "overlay",
          options: [`workdir=${this.workDir(rec.id)}`, `upperdir=${this.fsDir(rec.id)}`, `lowerdir=${lowers.join(":")}`],
        },
      ];
    }
    // Views: overlayfs needs two lower layers without an upper, so 0 or 1 layers is a read-only bind (as containerd does).
    const only = lowers.length === 0 ? this.fsDir(rec.id) : lowers.length === 1 ? lowers[0] : undefined;
    if (only !== undefined) return [{ type: "bind", source: only, options: ["ro", "rbind"] }];
    return [{ type: "overlay", source: "overlay", options: ["ro", `lowerdir=${lowers.join(":")}`] }];
  }

  private create(kind: "active" | "view", key: string, parent: string | undefined): Promise<Mount[]> {
    return this.exclusive(async (s) => {
      if (key === "") throw new SnapshotStateError("snapshot key must not be empty");
      if (s.snapshots.has(key)) throw new SnapshotExistsError(key);
      if (parent !== undefined) {
        const p = this.get(s, parent);
        if (p.kind !== "committed") throw new SnapshotStateError(`parent ${parent} is ${p.kind}, not committed`);
      }
      const id = String(s.nextId);
      const dir = join(this.root, "snapshots", id);
      // A leftover directory with this id (crash after mkdir, before save) is not in use: reset it.
      await rm(dir, { recursive: true, force: true });
      await mkdir(this.fsDir(id), { recursive: true, mode: 0o755 });
      await mkdir(this.workDir(id), { mode: 0o711 });
      const rec: SnapshotRecord = { id, kind, created: new Date().toISOString(), ...(parent !== undefined ? { parent } : {}) };
      s.snapshots.set(key, rec);
      s.nextId++;
      try {
        this.save(s, key);
      } catch (err) {
        s.snapshots.delete(key);
        s.nextId--;
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      return this.mountsOf(s, key, rec);
    });
  }

  /** A writable snapshot on `parent` (rw overlay, or a rw bind when it has no parent). */
  prepare(key: string, parent?: string): Promise<Mount[]> {
    return this.create("active", key, parent);
  }

  /** A read-only view of `parent`. */
  view(key: string, parent?: string): Promise<Mount[]> {
    return this.create("view", key, parent);
  }

  /**
   * Turns active snapshot `key` into committed snapshot `name`; its layer can then be a parent.
   * `opts.parent` places a snapshot prepared without a parent onto `parent`: layers can be
   * unpacked side by side (an upperdir does not depend on what is below it) and stacked in order.
   */
  commit(name: string, key: string, opts: { parent?: string } = {}): Promise<void> {
    return this.exclusive(async (s) => {
      const rec = this.get(s, key);
      if (rec.kind !== "active") throw new SnapshotStateError(`only active snapshots can be committed; ${key} is ${rec.kind}`);
      if (s.snapshots.has(name)) throw new SnapshotExistsError(name);
      if (opts.parent !== undefined) {
        if (rec.parent !== undefined) throw new SnapshotStateError(`${key} already has parent ${rec.parent}`);
        const p = this.get(s, opts.parent);
        if (p.kind !== "committed") throw new SnapshotStateError(`parent ${opts.parent} is ${p.kind}, not committed`);
      }
      const size = await layerSize(this.fsDir(rec.id));
      const committed: SnapshotRecord = { ...rec, kind: "committed", size, ...(opts.parent !== undefined ? { parent: opts.parent } : {}) };
      s.snapshots.delete(key);
      s.snapshots.set(name, committed);
      try {
        this.save(s, key, name);
      } catch (err) {
        s.snapshots.delete(name);
        s.snapshots.set(key, rec);
        throw err;
      }
      // The workdir is only needed while mounted rw; keep it empty.
      await rm(this.workDir(rec.id), { recursive: true, force: true });
      await mkdir(this.workDir(rec.id), { mode: 0o711 });
    });
  }

  /** Removes a snapshot and its layer. Refuses while other snapshots are stacked on it. */
  remove(key: string): Promise<void> {
    return this.exclusive(async (s) => {
      const rec = this.get(s, key);
      const children = [...s.snapshots].filter(([, r]) => r.parent === key).map(([k]) => k);
      if (children.length > 0) throw new SnapshotInUseError(key, children);
      s.snapshots.delete(key);
      try {
        this.save(s, key);
      } catch (err) {
        s.snapshots.set(key, rec);
        throw err;
      }
      // Metadata first: a crash here leaves an orphan directory that cleanup() removes, never a record without data.
      // The directory leaves the tree in one rename and is deleted in the background, as containerd does:
      // a large writable layer takes a while to delete, and `docker run --rm` waits on this.
      const dir = join(this.root, "snapshots", rec.id);
      const trash = join(this.root, "snapshots", `${TRASH_PREFIX}${rec.id}`);
      try {
        renameSync(dir, trash);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        throw err;
      }
      const gone = rm(trash, { recursive: true, force: true })
        .catch(() => undefined) // left for cleanup()
        .finally(() => this.deleting.delete(gone));
      this.deleting.add(gone);
    });
  }

  /** Resolves once the directories of removed snapshots are deleted from disk. */
  async settled(): Promise<void> {
    while (this.deleting.size) await Promise.all([...this.deleting]);
  }

  /** The directory a layer is unpacked into for active snapshot `key` (its upperdir). */
  upperDir(key: string): Promise<string> {
    return this.exclusive(async (s) => {
      const rec = this.get(s, key);
      if (rec.kind !== "active") throw new SnapshotStateError(`snapshot ${key} is ${rec.kind}; only active snapshots are writable`);
      return this.fsDir(rec.id);
    });
  }

  mounts(key: string): Promise<Mount[]> {
    return this.exclusive(async (s) => this.mountsOf(s, key, this.get(s, key)));
  }

  stat(key: string): Promise<SnapshotInfo> {
    return this.exclusive(async (s) => info(key, this.get(s, key)));
  }

  list(): Promise<SnapshotInfo[]> {
    return this.exclusive(async (s) => [...s.snapshots].map(([k, r]) => info(k, r)));
  }

  /** Keys of the snapshots whose parent is `key`. */
  children(key: string): Promise<string[]> {
    return this.exclusive(async (s) => [...s.snapshots].filter(([, r]) => r.parent === key).map(([k]) => k));
  }

  /** Removes snapshot directories no metadata record points at (left by a crash). Returns their ids. */
  cleanup(): Promise<string[]> {
    return this.exclusive(async (s) => {
      const used = new Set([...s.snapshots.values()].map((r) => r.id));
      let ids: string[];
      try {
        ids = await readdir(join(this.root, "snapshots"));
      } catch {
        return [];
      }
      const orphans = ids.filter((id) => !used.has(id));
      for (const id of orphans) await rm(join(this.root, "snapshots", id), { recursive: true, force: true });
      return orphans;
    });
  }
}

function info(key: string, r: SnapshotRecord): SnapshotInfo {
  return {
    key,
    id: r.id,
    kind: r.kind,
    created: r.created,
    ...(r.parent !== undefined ? { parent: r.parent } : {}),
    ...(r.size !== undefined ? { size: r.size } : {}),
  };
}
