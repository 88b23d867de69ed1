import { constants as fsc } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { ReadEntry } from "tar";
import { mknod, mkWhiteout } from "../mount/index.ts";
import { setXattr } from "../mount/index.ts";
import { LayerFormatError, LayerSecurityError, UnsupportedEntryError } from "./errors.ts";

/*
 * Applies tar entries, one at a time and in order, to a layer directory (an overlay upperdir).
 *
 * The safety rule is simple: a path is split into components, `..` and absolute paths are refused
 * outright, and every parent component is lstat'ed: a symlink there is refused instead of followed.
 * Files are opened with O_NOFOLLOW|O_EXCL after the old entry is removed, so nothing this code does
 * can resolve through a symlink. The applier is the only writer of the directory while it runs.
 */

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";

export interface ApplyOptions {
  /** Privileged: chown to the tar's uid/gid, create device nodes and overlay whiteouts, set trusted.* xattrs. */
  isRoot: boolean;
}

const isMissing = (err: unknown) => (err as { code?: unknown }).code === "ENOENT";

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** Splits a tar path into clean components; refuses absolute paths, `..` and NUL bytes. */
export function pathComponents(entryPath: string, raw: string, what: "path" | "link target"): string[] {
  if (raw.includes("\0")) throw new LayerSecurityError(entryPath, `${what} contains a NUL byte`);
  if (raw.startsWith("/")) throw new LayerSecurityError(entryPath, `absolute ${what} ${JSON.stringify(raw)}`);
  const parts = raw.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) throw new LayerSecurityError(entryPath, `${what} ${JSON.stringify(raw)} contains a ".." component`);
  return parts;
}

/** Which xattrs a layer may carry. trusted.overlay.* would let a layer forge overlay metadata. */
function xattrAllowed(entryPath: string, name: string, privileged: boolean, isSymlink: boolean): boolean {
  if (name.startsWith("trusted.overlay.")) throw new LayerSecurityError(entryPath, `xattr ${name} is reserved for overlayfs`);
  if (name.startsWith("user.")) return !isSymlink; // Linux does not allow user.* on symlinks
  if (!privileged) return false;
  return (
    name.startsWith("security.") || name.startsWith("trusted.") || name === "system.posix_acl_access" || name === "system.posix_acl_default"
  );
}

export class LayerApplier {
  entries = 0;
  bytes = 0;
  readonly warnings: string[] = [];
  /** Relative paths known to be real directories (not symlinks); "" is the root. */
  private readonly dirs = new Set<string>([""]);
  /** Directory times are set last: creating children would change them again. */
  private readonly dirTimes: { abs: string; atime: Date; mtime: Date }[] = [];

  constructor(
    readonly root: string,
    private readonly opts: ApplyOptions,
  ) {}

  async apply(entry: ReadEntry, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const entryPath = entry.path;
    const parts = pathComponents(entryPath, entryPath, "path");
    this.entries++;

    for (const dir of parts.slice(0, -1)) {
      if (dir.startsWith(WHITEOUT_PREFIX))
        throw new LayerSecurityError(entryPath, `whiteout name ${JSON.stringify(dir)} used as a directory`);
    }

    if (parts.length === 0) {
      if (entry.type !== "Directory" && entry.type !== "GNUDumpDir")
        throw new LayerSecurityError(entryPath, "only a directory may name the layer root");
      entry.resume();
      await this.setMeta(entry, this.root, "dir", xattrs);
      return;
    }

    const base = parts[parts.length - 1]!;
    const parent = parts.slice(0, -1);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      await this.whiteout(entryPath, parent, base);
      return;
    }

    const parentAbs = await this.ensureDirs(entryPath, parent, true);
    const rel = parts.join("/");
    const abs = join(parentAbs, base);

    switch (entry.type) {
      case "Directory":
      case "GNUDumpDir": {
        entry.resume();
        const existing = await this.clearFor(rel, abs, true);
        if (!existing) await mkdir(abs, { mode: 0o700 });
        this.dirs.add(rel);
        await this.setMeta(entry, abs, "dir", xattrs);
        return;
      }
      case "File":
      case "OldFile":
      case "ContiguousFile":
        await this.clearFor(rel, abs, false);
        await this.writeFile(entry, abs, xattrs);
        return;
      case "SymbolicLink": {
        entry.resume();
        const target = entry.linkpath ?? "";
        if (target === "" || target.includes("\0")) throw new LayerSecurityError(entryPath, "symlink without a valid target");
        await this.clearFor(rel, abs, false);
        // The target is stored verbatim and never followed here; the container resolves it in its own root.
        await symlink(target, abs);
        await this.setMeta(entry, abs, "symlink", xattrs);
        return;
      }
      case "Link": {
        entry.resume();
        const targetAbs = await this.hardlinkTarget(entryPath, entry.linkpath ?? "");
        if (targetAbs === abs) throw new LayerSecurityError(entryPath, "hardlink to itself");
        await this.clearFor(rel, abs, false);
        await link(targetAbs, abs);
        return;
      }
      case "CharacterDevice":
      case "BlockDevice": {
        entry.resume();
        if (!this.opts.isRoot) throw new LayerSecurityError(entryPath, "device nodes are only created when running as root");
        await this.clearFor(rel, abs, false);
        await mknod(
          abs,
          entry.type === "CharacterDevice" ? "char" : "block",
          entry.mode ?? 0o600,
          entry.header.devmaj,
          entry.header.devmin,
        );
        await this.setMeta(entry, abs, "node", xattrs);
        return;
      }
      case "FIFO":
        entry.resume();
        await this.clearFor(rel, abs, false);
        await mknod(abs, "fifo", entry.mode ?? 0o644);
        await this.setMeta(entry, abs, "node", xattrs);
        return;
      default:
        throw new UnsupportedEntryError(entryPath, entry.type);
    }
  }

  /** Sets directory times, deepest last-created first, once all entries are in. */
  async finish(): Promise<void> {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const d = this.dirTimes[i]!;
      await lutimes(d.abs, d.atime, d.mtime);
    }
  }

  /**
   * Makes sure every component of `parts` is a real directory inside the root, creating missing
   * ones (0755, like Docker) when `create`; refuses symlinks and non-directories. Returns the path.
   */
  private async ensureDirs(entryPath: string, parts: string[], create: boolean): Promise<string> {
    let rel = "";
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      const st = await lstatOrUndefined(abs);
      if (!st) {
        if (!create) throw new LayerSecurityError(entryPath, `${JSON.stringify(rel)} does not exist in the layer`);
        await mkdir(abs, { mode: 0o755 });
        await chmod(abs, 0o755); // mkdir's mode is subject to the umask
      } else if (st.isSymbolicLink()) {
        throw new LayerSecurityError(entryPath, `parent ${JSON.stringify(rel)} is a symlink; refusing to write through it`);
      } else if (!st.isDirectory()) {
        throw new LayerSecurityError(entryPath, `parent ${JSON.stringify(rel)} is not a directory`);
      }
      this.dirs.add(rel);
    }
    return join(this.root, ...parts);
  }

  /**
   * Removes whatever is at `abs` so the new entry replaces it; an existing directory stays when the
   * new entry is a directory too (tar semantics: merge). Returns whether a directory was kept.
   */
  private async clearFor(rel: string, abs: string, wantDir: boolean): Promise<boolean> {
    const st = await lstatOrUndefined(abs);
    if (!st) return false;
    if (st.isDirectory()) {
      if (wantDir) return true;
      await rm(abs, { recursive: true, force: true }); // rm does not follow symlinks inside
    } else {
      await unlink(abs);
    }
    for (const d of [...this.dirs]) {
      if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
    }
    return false;
  }

  private async writeFile(entry: ReadEntry, abs: string, xattrs: Map<string, Buffer> | undefined): Promise<void> {
    const fh = await open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      let written = 0;
      for await (const chunk of entry) {
        const buf: Buffer = chunk;
        let off = 0;
        while (off < buf.length) {
          const { bytesWritten } = await fh.write(buf, off, buf.length - off);
          off += bytesWritten;
        }
        written += buf.length;
      }
      if (written !== entry.size) throw new LayerFormatError(`${entry.path}: expected ${entry.size} bytes, got ${written}`);
      this.bytes += written;
      // chown before chmod: chown clears setuid/setgid bits.
      if (this.opts.isRoot) await fh.chown(entry.uid ?? 0, entry.gid ?? 0);
      await fh.chmod((entry.mode ?? 0o644) & 0o7777);
    } finally {
      await fh.close();
    }
    await this.setXattrs(entry.path, abs, xattrs, false);
    const mtime = entry.mtime ?? new Date();
    await lutimes(abs, entry.atime ?? mtime, mtime);
  }

  private async setMeta(
    entry: ReadEntry,
    abs: string,
    kind: "dir" | "symlink" | "node",
    xattrs: Map<string, Buffer> | undefined,
  ): Promise<void> {
    if (this.opts.isRoot) await lchown(abs, entry.uid ?? 0, entry.gid ?? 0);
    if (kind !== "symlink") await chmod(abs, (entry.mode ?? (kind === "dir" ? 0o755 : 0o644)) & 0o7777);
    await this.setXattrs(entry.path, abs, xattrs, kind === "symlink");
    const mtime = entry.mtime ?? new Date();
    const atime = entry.atime ?? mtime;
    if (kind === "dir") this.dirTimes.push({ abs, atime, mtime });
    else await lutimes(abs, atime, mtime);
  }

  private async setXattrs(entryPath: string, abs: string, xattrs: Map<string, Buffer> | undefined, isSymlink: boolean): Promise<void> {
    if (!xattrs) return;
    for (const [name, value] of xattrs) {
      if (xattrAllowed(entryPath, name, this.opts.isRoot, isSymlink)) await setXattr(abs, name, value);
      else this.warnings.push(`${entryPath}: skipped xattr ${name}`);
    }
  }

  /** A hardlink's target must be a non-directory this layer already holds, reached without symlinks. */
  private async hardlinkTarget(entryPath: string, linkpath: string): Promise<string> {
    const parts = pathComponents(entryPath, linkpath, "link target");
    if (parts.length === 0) throw new LayerSecurityError(entryPath, "hardlink to the layer root");
    const parentAbs = await this.ensureDirs(entryPath, parts.slice(0, -1), false);
    const abs = join(parentAbs, parts[parts.length - 1]!);
    const st = await lstatOrUndefined(abs);
    if (!st) throw new LayerSecurityError(entryPath, `hardlink target ${JSON.stringify(linkpath)} is not in this layer`);
    if (st.isDirectory()) throw new LayerSecurityError(entryPath, `hardlink target ${JSON.stringify(linkpath)} is a directory`);
    return abs;
  }

  /** `.wh.<name>` → overlay whiteout (char 0/0) for <name>; `.wh..wh..opq` → opaque parent dir. */
  private async whiteout(entryPath: string, parent: string[], base: string): Promise<void> {
    if (base === OPAQUE_WHITEOUT) {
      if (!this.opts.isRoot) throw new LayerSecurityError(entryPath, "opaque directories (trusted.overlay.opaque) need root");
      const dirAbs = await this.ensureDirs(entryPath, parent, true);
      await setXattr(dirAbs, OVERLAY_OPAQUE_XATTR, Buffer.from("y"));
      return;
    }
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
      // Other .wh..wh.* names are aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): Docker skips them too.
      this.warnings.push(`${entryPath}: skipped aufs metadata`);
      return;
    }
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === "" || name === "." || name === "..") {
      throw new LayerSecurityError(entryPath, `malformed whiteout for ${JSON.stringify(name)}`);
    }
    if (!this.opts.isRoot) throw new LayerSecurityError(entryPath, "overlay whiteouts (char 0/0 devices) need root");
    const parentAbs = await this.ensureDirs(entryPath, parent, true);
    const rel = [...parent, name].join("/");
    const abs = join(parentAbs, name);
    await this.clearFor(rel, abs, false);
    await mkWhiteout(abs);
  }
}
