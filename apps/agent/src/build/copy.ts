// COPY and ADD into a mounted root filesystem, by Docker's rules: a directory source copies its
// contents, several sources need a directory destination, a relative destination is under the
// working directory, missing parents are made, and owners are 0:0 unless --chown says otherwise.
// Paths in the image are resolved with its root as `/`, so an image's symlinks never lead out.
// Directories are made first, in order; files and links are then written several at a time.
import { statSync } from "node:fs";
import { chmod, lchown, lstat, lutimes, mkdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { resolveInRoot } from "../containers/index.ts";
import { BuildError } from "./errors.ts";
import type { Source, SourceTree, TreeEntry } from "./source-tree.ts";

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  owner: Owner;
  /** --chmod: the mode of every copied file and directory. */
  mode?: number;
  /** The destination as written, already expanded; relative to `workdir` unless absolute. */
  dest: string;
  workdir: string;
}

/** Files written at once (the thread pool's writes overlap). */
const WRITERS = 16;

/** Where `dest` points in the image (absolute), and whether it names a directory. */
function destination(root: string, opts: CopyOptions, sourceCount: number, anyDir: boolean): { path: string; isDir: boolean } {
  const path = posix.resolve(opts.workdir || "/", opts.dest);
  const slash = opts.dest.endsWith("/") || opts.dest === "." || opts.dest.endsWith("/.");
  if (sourceCount > 1 && !slash) {
    throw new BuildError("When using COPY with more than one source file, the destination must be a directory and end with a /", "INVALID");
  }
  const host = resolveInRoot(root, path);
  return { path, isDir: slash || anyDir || (host !== null && isDirectory(host)) };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The host path of an image path, which must resolve inside the root. */
function hostPath(root: string, path: string): string {
  const host = resolveInRoot(root, path, { followLast: false });
  if (host === null) throw new BuildError(`${path}: too many levels of symbolic links`, "INVALID");
  return host;
}

/** One copy's writes into one root: the directories it has made or checked are remembered. */
class Writer {
  private readonly dirs = new Set<string>(["/"]);

  constructor(
    private readonly root: string,
    private readonly opts: CopyOptions,
  ) {}

  /** mkdir -p in the image; directories it makes get the copy's owner and 0755. */
  async parents(path: string): Promise<void> {
    if (this.dirs.has(path)) return;
    let cur = "/";
    for (const p of path.split("/").filter(Boolean)) {
      cur = posix.join(cur, p);
      if (this.dirs.has(cur)) continue;
      const host = resolveInRoot(this.root, cur);
      if (host === null) throw new BuildError(`${cur}: too many levels of symbolic links`, "INVALID");
      const st = await lstat(host).catch(() => null);
      if (!st) {
        await mkdir(host, { mode: 0o755 });
        await chmod(host, 0o755);
        await lchown(host, this.opts.owner.uid, this.opts.owner.gid);
      } else if (!st.isDirectory()) throw new BuildError(`cannot copy to ${path}: ${cur} is not a directory`, "INVALID");
      this.dirs.add(cur);
    }
  }

  async dir(entry: TreeEntry, to: string): Promise<void> {
    await this.parents(posix.dirname(to));
    const host = hostPath(this.root, to);
    const existing = await lstat(host).catch(() => null);
    if (existing && !existing.isDirectory()) await rm(host, { force: true });
    if (!existing?.isDirectory()) await mkdir(host);
    await chmod(host, this.opts.mode ?? entry.mode);
    await lchown(host, this.opts.owner.uid, this.opts.owner.gid);
    await utimes(host, entry.mtime, entry.mtime);
    this.dirs.add(to);
  }

  /** A file or link; its parent exists (made by `dir` or `parents`). */
  async leaf(tree: SourceTree, entry: TreeEntry, to: string, freshParent: boolean): Promise<void> {
    const host = hostPath(this.root, to);
    // In a directory this copy made, nothing is there to replace.
    if (!freshParent) {
      const existing = await lstat(host).catch(() => null);
      if (existing?.isDirectory()) throw new BuildError(`cannot overwrite directory ${to} with a file`, "INVALID");
      if (existing) await rm(host, { force: true });
    }
    if (entry.kind === "symlink") {
      await symlink(entry.linkTarget ?? "", host);
      await lchown(host, this.opts.owner.uid, this.opts.owner.gid);
      await lutimes(host, entry.mtime, entry.mtime);
      return;
    }
    if (entry.kind !== "file") return; // sockets, fifos, devices: nothing a COPY carries
    await tree.writeFile(entry.rel, host);
    await chmod(host, this.opts.mode ?? entry.mode);
    await lchown(host, this.opts.owner.uid, this.opts.owner.gid);
    await utimes(host, entry.mtime, entry.mtime);
  }
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** COPY (or ADD of local files) of tree sources into the image mounted at `root`. */
export async function copySources(root: string, tree: SourceTree, sources: Source[], opts: CopyOptions): Promise<void> {
  const dest = destination(
    root,
    opts,
    sources.length,
    sources.some((s) => s.isDir),
  );
  const w = new Writer(root, opts);
  for (const src of sources) {
    if (!src.isDir) {
      const [entry] = await collect(tree.walk(src));
      if (!entry) continue;
      const to = dest.isDir ? posix.join(dest.path, src.name) : dest.path;
      await w.parents(posix.dirname(to));
      await w.leaf(tree, entry, to, false);
      continue;
    }
    await w.parents(dest.path);
    const leaves: Array<{ entry: TreeEntry; to: string; fresh: boolean }> = [];
    const made = new Set<string>();
    for await (const e of tree.walk(src)) {
      if (!e.sub) continue;
      const to = posix.join(dest.path, e.sub);
      const parent = posix.dirname(to);
      if (e.kind === "dir") {
        const existed = await lstat(hostPath(root, to)).catch(() => null);
        await w.dir(e, to);
        if (!existed) made.add(to);
      } else leaves.push({ entry: e, to, fresh: made.has(parent) });
    }
    await pool(leaves, WRITERS, (l) => w.leaf(tree, l.entry, l.to, l.fresh));
  }
}

async function collect<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

/** A file with given contents (a heredoc, a download) at `dest`, by the same rules. */
export async function writeFileAt(
  root: string,
  name: string,
  data: Buffer,
  fileMode: number,
  opts: CopyOptions,
  mtime?: Date,
): Promise<void> {
  const dest = destination(root, opts, 1, false);
  const to = dest.isDir ? posix.join(dest.path, name) : dest.path;
  await new Writer(root, opts).parents(posix.dirname(to));
  const host = hostPath(root, to);
  const existing = await lstat(host).catch(() => null);
  if (existing?.isDirectory()) throw new BuildError(`cannot overwrite directory ${to} with a file`, "INVALID");
  if (existing) await rm(host, { force: true });
  await writeFile(host, data, { mode: 0o600 });
  await chmod(host, opts.mode ?? fileMode);
  await lchown(host, opts.owner.uid, opts.owner.gid);
  if (mtime) await utimes(host, mtime, mtime);
}

/** WORKDIR: the directory exists afterwards (owned by the build's user, as BuildKit makes it). */
export async function ensureDir(root: string, path: string, owner: Owner): Promise<void> {
  await new Writer(root, { owner, dest: path, workdir: "/" }).parents(path);
}
