// Another image's filesystem, mounted read-only, as COPY --from and RUN --mount=from read it:
// absolute and relative paths both start at its root, and its links are followed with that root
// as `/`, so none leads out of it.
import { createHash } from "node:crypto";
import { copyFile, lstat, readdir, readlink } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { resolveInRoot } from "../containers/index.ts";
import { BuildError } from "./errors.ts";
import { SourceTree, type TreeNode } from "./source-tree.ts";

export class DirTree extends SourceTree {
  constructor(readonly root: string) {
    super();
  }

  private host(rel: string): string {
    return rel ? join(this.root, rel) : this.root;
  }

  protected clean(source: string): string {
    return posix.normalize(`/${source}`).slice(1).replace(/\/+$/, "");
  }

  async stat(rel: string): Promise<TreeNode | null> {
    const st = await lstat(this.host(rel)).catch(() => null);
    if (!st) return null;
    const kind = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : "other";
    return {
      kind,
      mode: st.mode & 0o7777,
      mtime: st.mtime,
      size: st.size,
      ...(kind === "symlink" ? { linkTarget: await readlink(this.host(rel)) } : {}),
    };
  }

  async list(rel: string): Promise<string[]> {
    const names = await readdir(this.host(rel)).catch(() => [] as string[]);
    return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async follow(rel: string): Promise<string> {
    const host = resolveInRoot(this.root, rel);
    if (host === null) throw new BuildError(`${rel}: too many levels of symbolic links`, "INVALID");
    return host === this.root ? "" : host.slice(this.root.length + 1);
  }

  async contentHash(rel: string): Promise<string> {
    const h = createHash("sha256");
    for await (const chunk of createReadStream(this.host(rel))) h.update(chunk as Buffer);
    return h.digest("hex");
  }

  async writeFile(rel: string, dest: string): Promise<void> {
    await copyFile(this.host(rel), dest);
  }

  open(rel: string): Readable {
    return createReadStream(this.host(rel));
  }

  async hostPath(rel: string): Promise<string> {
    return this.host(rel);
  }
}
