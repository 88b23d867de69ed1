// The build context as the client sent it: a tar (gzip or zstd allowed), read once as it arrives
// and kept as an index, with each file's contents hashed on the way. Nothing is unpacked: COPY
// writes a file straight from the index into the image, and an unchanged rebuild needs no more
// than this one read. Small files stay in memory up to a budget; the rest go to files of their
// own. Entry paths pass the same checks as image layers' (no absolute paths, no `..`).
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable, Transform } from "node:stream";
import { once } from "node:events";
import { Parser, type ReadEntry } from "tar";
import ignore, { type Ignore } from "@balena/dockerignore";
import { decompressLayer, pathComponents } from "../snapshots/index.ts";
import { BuildError } from "./errors.ts";
import { SourceTree, type TreeNode } from "./source-tree.ts";

/** Default limit on a context's bytes as sent (compressed or not); `BERTH_BUILD_CONTEXT_MAX` changes it. */
export const DEFAULT_CONTEXT_LIMIT = 2 * 1024 * 1024 * 1024;
/** File contents one context keeps in memory; past it they are written to its directory. */
const MEMORY_BUDGET = 64 * 1024 * 1024;
/** Symlinks followed on one path at most (as the kernel's ELOOP). */
const MAX_LINKS = 40;

interface IndexNode extends TreeNode {
  /** A file's contents: in memory, or the path of the file holding them. */
  body?: Buffer | string;
  sha256?: string;
}

/** Spools nothing: reads `body` into an index, refusing it past `limit` bytes as sent. */
export async function receiveContext(body: Readable, dir: string, limit: number): Promise<TarContext> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > limit) cb(new BuildError(`the build context is larger than the limit of ${limit} bytes`, "INVALID"));
      else cb(null, chunk);
    },
  });
  body.on("error", (e) => meter.destroy(e));
  const ctx = new TarContext(dir);
  await ctx.read(body.pipe(meter));
  await ctx.loadIgnoreRules();
  return ctx;
}

export class TarContext extends SourceTree {
  private readonly nodes = new Map<string, IndexNode>([["", { kind: "dir", mode: 0o755, mtime: new Date(0), size: 0 }]]);
  private readonly children = new Map<string, Set<string>>([["", new Set()]]);
  private inMemory = 0;
  private spilled = 0;
  private rules: Ignore | null = null;
  private readonly materialized = new Map<string, string>();

  constructor(private readonly dir: string) {
    super();
  }

  private addParents(rel: string): void {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      const n = this.nodes.get(p);
      if (n?.kind === "dir") continue;
      // A tar need not list its directories; one that held a file is a directory now.
      this.nodes.set(p, { kind: "dir", mode: 0o755, mtime: new Date(0), size: 0 });
      this.children.set(p, this.children.get(p) ?? new Set());
      this.children.get(parts.slice(0, i - 1).join("/"))!.add(parts[i - 1]!);
    }
  }

  private put(rel: string, node: IndexNode): void {
    if (rel === "") {
      if (node.kind !== "dir") throw new BuildError("the build context's root is not a directory", "INVALID");
      this.nodes.set("", { ...node, size: 0 });
      return;
    }
    this.addParents(rel);
    const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    this.children.get(parent)!.add(rel.slice(rel.lastIndexOf("/") + 1));
    this.nodes.set(rel, node);
    // A later entry replaces an earlier one of the same path, as when a tar is unpacked.
    if (node.kind === "dir") this.children.set(rel, this.children.get(rel) ?? new Set());
    else this.children.delete(rel);
  }

  /** Reads the tar stream into the index. */
  async read(stream: Readable): Promise<void> {
    let tar: AsyncIterable<Buffer>;
    try {
      ({ tar } = await decompressLayer(stream));
    } catch (e) {
      throw invalidTar(e);
    }
    const parser = new Parser({ strict: true });
    const writes: Array<{ out: WriteStream; closed: Promise<unknown> }> = [];
    let failure: Error | null = null;
    const fail = (e: unknown) => (failure ??= e instanceof BuildError ? e : invalidTar(e));
    parser.on("entry", (entry: ReadEntry) => {
      try {
        this.take(entry, writes);
      } catch (e) {
        fail(e);
        entry.resume();
      }
    });
    parser.on("error", fail);
    parser.on("warn", (_code: string, message: string) => fail(new Error(message)));
    let bytes = 0;
    try {
      for await (const chunk of tar) {
        if (failure) break;
        bytes += (chunk as Buffer).length;
        if (!parser.write(chunk as Buffer)) await once(parser, "drain");
      }
      // An empty body is an empty context (then the Dockerfile is what is missing, as dockerd says).
      if (bytes === 0) return;
      if (!failure) {
        const ended = once(parser, "end");
        parser.end();
        await ended;
      }
      if (!failure) await Promise.all(writes.map((w) => w.closed));
    } catch (e) {
      fail(e);
    }
    if (failure) {
      // Files of a refused context are not waited for: their entries will never end.
      for (const w of writes) w.out.destroy();
      throw failure;
    }
  }

  private take(entry: ReadEntry, writes: Array<{ out: WriteStream; closed: Promise<unknown> }>): void {
    let rel: string;
    try {
      // "./a" and "a" are the same entry: components are taken without "." and empty ones.
      rel = pathComponents(entry.path, entry.path, "path").join("/");
    } catch (e) {
      throw new BuildError(`the build context has an entry that leads out of it: ${e instanceof Error ? e.message : String(e)}`, "INVALID");
    }
    const mode = (entry.mode ?? 0o644) & 0o7777;
    const mtime = entry.mtime ?? new Date(0);
    switch (entry.type) {
      case "Directory":
        this.put(rel, { kind: "dir", mode, mtime, size: 0 });
        entry.resume();
        return;
      case "SymbolicLink":
        this.put(rel, { kind: "symlink", mode: 0o777, mtime, size: 0, linkTarget: entry.linkpath ?? "" });
        entry.resume();
        return;
      case "Link": {
        const target = this.nodes.get(pathComponents(entry.path, entry.linkpath ?? "", "link target").join("/"));
        if (target?.kind !== "file") throw new BuildError(`${rel}: hardlink to ${entry.linkpath}, which is no file before it`, "INVALID");
        this.put(rel, { ...target, mode, mtime });
        entry.resume();
        return;
      }
      case "File":
      case "OldFile":
      case "ContiguousFile":
        break;
      default:
        // Devices, fifos: nothing a COPY carries.
        entry.resume();
        return;
    }
    const size = entry.size ?? 0;
    const node: IndexNode = { kind: "file", mode, mtime, size };
    this.put(rel, node);
    const hash = createHash("sha256");
    if (this.inMemory + size <= MEMORY_BUDGET) {
      this.inMemory += size;
      const parts: Buffer[] = [];
      entry.on("data", (c: Buffer) => {
        hash.update(c);
        parts.push(c);
      });
      entry.on("end", () => {
        node.body = Buffer.concat(parts);
        node.sha256 = hash.digest("hex");
      });
      return;
    }
    const path = join(this.dir, `body-${++this.spilled}`);
    const out: WriteStream = createWriteStream(path, { mode: 0o600 });
    entry.on("data", (c: Buffer) => hash.update(c));
    entry.on("end", () => {
      node.sha256 = hash.digest("hex");
    });
    node.body = path;
    entry.pipe(out);
    writes.push({ out, closed: once(out, "close") });
  }

  /** .dockerignore's rules, read from the context (the CLI usually applied them already). */
  async loadIgnoreRules(): Promise<void> {
    const n = this.nodes.get(".dockerignore");
    if (n?.kind !== "file") return;
    const text = (await this.readAll(".dockerignore")).toString("utf8");
    const patterns = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    if (patterns.length) this.rules = ignore().add(patterns);
  }

  override ignored(rel: string): boolean {
    return rel !== "" && this.rules !== null && this.rules.ignores(rel);
  }

  protected clean(source: string): string {
    if (source.startsWith("/")) {
      throw new BuildError(`COPY source ${source} is an absolute path: sources are paths inside the build context`, "INVALID");
    }
    const norm = posix.normalize(source);
    if (norm === ".." || norm.startsWith("../")) throw new BuildError(`forbidden path outside the build context: ${source}`, "INVALID");
    return norm === "." ? "" : norm.replace(/\/+$/, "");
  }

  async stat(rel: string): Promise<TreeNode | null> {
    const n = this.nodes.get(rel);
    return n
      ? { kind: n.kind, mode: n.mode, mtime: n.mtime, size: n.size, ...(n.linkTarget !== undefined ? { linkTarget: n.linkTarget } : {}) }
      : null;
  }

  async list(rel: string): Promise<string[]> {
    return [...(this.children.get(rel) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** Follows links inside the context; one that leads out of it is refused, as a source must stay in the context. */
  async follow(rel: string): Promise<string> {
    let pending = rel === "" ? [] : rel.split("/");
    const done: string[] = [];
    let links = 0;
    while (pending.length) {
      const part = pending.shift()!;
      if (part === "." || part === "") continue;
      if (part === "..") {
        if (done.length === 0)
          throw new BuildError(`forbidden path outside the build context: ${rel} leads to a path outside it`, "INVALID");
        done.pop();
        continue;
      }
      const here = [...done, part].join("/");
      const n = this.nodes.get(here);
      if (n?.kind !== "symlink") {
        done.push(part);
        continue;
      }
      if (++links > MAX_LINKS) throw new BuildError(`${rel}: too many levels of symbolic links`, "INVALID");
      const target = n.linkTarget ?? "";
      if (target.startsWith("/"))
        throw new BuildError(`forbidden path outside the build context: ${rel} leads to a path outside it`, "INVALID");
      pending = [...target.split("/"), ...pending];
    }
    return done.join("/");
  }

  async contentHash(rel: string): Promise<string> {
    const n = this.nodes.get(rel);
    if (n?.kind !== "file" || !n.sha256) throw new BuildError(`${rel} is not a file of the context`, "INVALID");
    return n.sha256;
  }

  private async readAll(rel: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this.open(rel)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  open(rel: string): Readable {
    const n = this.nodes.get(rel);
    if (n?.kind !== "file") throw new BuildError(`${rel} is not a file of the context`, "INVALID");
    return typeof n.body === "string" ? createReadStream(n.body) : Readable.from([n.body ?? Buffer.alloc(0)]);
  }

  async writeFile(rel: string, dest: string): Promise<void> {
    const n = this.nodes.get(rel);
    if (n?.kind !== "file") throw new BuildError(`${rel} is not a file of the context`, "INVALID");
    if (typeof n.body === "string") {
      const out = createWriteStream(dest, { mode: 0o600, flags: "wx" });
      await new Promise<void>((resolve, reject) => {
        createReadStream(n.body as string)
          .on("error", reject)
          .pipe(out)
          .on("error", reject)
          .on("close", resolve);
      });
      return;
    }
    await writeFile(dest, n.body ?? Buffer.alloc(0), { mode: 0o600, flag: "wx" });
  }

  /** The Dockerfile's text, by its path in the context. */
  async dockerfile(name: string): Promise<string> {
    const rel = await this.follow(this.clean(name)).catch(() => null);
    if (rel === null || this.nodes.get(rel)?.kind !== "file")
      throw new BuildError(`Cannot locate specified Dockerfile: ${name}`, "INVALID");
    return (await this.readAll(rel)).toString("utf8");
  }

  /** A bind mount needs the files on disk: the subtree is written out once, under the context's directory. */
  async hostPath(rel: string): Promise<string> {
    const have = this.materialized.get(rel);
    if (have) return have;
    const base = join(this.dir, `mount-${this.materialized.size + 1}`);
    const node = this.nodes.get(rel)!;
    if (node.kind !== "dir") {
      await mkdir(base, { mode: 0o700 });
      const path = join(base, "file");
      await this.writeFile(rel, path);
      this.materialized.set(rel, path);
      return path;
    }
    for await (const e of this.walk({ rel, name: "", isDir: true })) {
      const to = e.sub ? join(base, e.sub) : base;
      if (e.kind === "dir") await mkdir(to, { recursive: true, mode: e.mode });
      else if (e.kind === "file") await this.writeFile(e.rel, to);
      else if (e.kind === "symlink") await symlink(e.linkTarget ?? "", to);
    }
    this.materialized.set(rel, base);
    return base;
  }
}

function invalidTar(e: unknown): BuildError {
  if (e instanceof BuildError) return e;
  return new BuildError(`the build context is not a valid tar archive: ${e instanceof Error ? e.message : String(e)}`, "INVALID", {
    cause: e,
  });
}
