// COPY and ADD into a mounted root filesystem, by Docker's rules: a directory source copies its
// contents, several sources need a directory destination, a relative destination is under the
// working directory, missing parents are made, and owners are 0:0 unless --chown says otherwise.
// Paths in the image are resolved with its root as `/`, so an image's symlinks never lead out.
import { statSync } from "node:fs";
import { copyFile, chmod, lchown, lstat, mkdir, readlink, rm, symlink, utimes, lutimes, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { resolveInRoot } from "../containers/root-path.ts";
import type { BuildContext, Source } from "./context.ts";
import { BuildError } from "./errors.ts";

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

/** mkdir -p in the image; directories it makes get `owner` and 0755. */
async function makeParents(root: string, path: string, owner: Owner): Promise<void> {
  const parts = path.split("/").filter(Boolean);
  let cur = "/";
  for (const p of parts) {
    cur = posix.join(cur, p);
    const host = resolveInRoot(root, cur);
    if (host === null) throw new BuildError(`${cur}: too many levels of symbolic links`, "INVALID");
    const st = await lstat(host).catch(() => null);
    if (st?.isDirectory()) continue;
    if (st) throw new BuildError(`cannot copy to ${path}: ${cur} is not a directory`, "INVALID");
    await mkdir(host, { mode: 0o755 });
    await chmod(host, 0o755);
    await lchown(host, owner.uid, owner.gid);
  }
}

/** Writes one context entry at image path `to`. */
async function place(root: string, fromAbs: string, to: string, opts: CopyOptions): Promise<void> {
  const st = await lstat(fromAbs);
  await makeParents(root, posix.dirname(to), opts.owner);
  const host = hostPath(root, to);
  const existing = await lstat(host).catch(() => null);
  if (st.isDirectory()) {
    if (existing && !existing.isDirectory()) await rm(host, { force: true });
    if (!existing?.isDirectory()) await mkdir(host);
    await chmod(host, opts.mode ?? st.mode & 0o7777);
    await lchown(host, opts.owner.uid, opts.owner.gid);
    await utimes(host, st.atime, st.mtime);
    return;
  }
  if (existing?.isDirectory()) throw new BuildError(`cannot overwrite directory ${to} with a file`, "INVALID");
  if (existing) await rm(host, { force: true });
  if (st.isSymbolicLink()) {
    await symlink(await readlink(fromAbs), host);
    await lchown(host, opts.owner.uid, opts.owner.gid);
    await lutimes(host, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) return; // sockets, fifos: nothing a COPY carries
  await copyFile(fromAbs, host);
  await chmod(host, opts.mode ?? st.mode & 0o7777);
  await lchown(host, opts.owner.uid, opts.owner.gid);
  await utimes(host, st.atime, st.mtime);
}

/** COPY (or ADD of local files) of context sources into the image mounted at `root`. */
export async function copySources(root: string, ctx: Pick<BuildContext, "walk">, sources: Source[], opts: CopyOptions): Promise<void> {
  const dest = destination(
    root,
    opts,
    sources.length,
    sources.some((s) => s.isDir),
  );
  for (const src of sources) {
    if (src.isDir) {
      await makeParents(root, dest.path, opts.owner);
      for await (const e of ctx.walk(src)) if (e.sub) await place(root, e.abs, posix.join(dest.path, e.sub), opts);
      continue;
    }
    const to = dest.isDir ? posix.join(dest.path, posix.basename(src.rel)) : dest.path;
    await place(root, src.abs, to, opts);
  }
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
  await makeParents(root, posix.dirname(to), opts.owner);
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
  await makeParents(root, path, owner);
}
