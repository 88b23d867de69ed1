// What COPY, ADD and RUN --mount read from: the build context (a tar, indexed) or another image's
// filesystem (a stage, an image). Both answer the same few questions, and this base class turns
// them into Docker's source rules: globs (Go's filepath.Match, per segment), links followed only
// inside the tree, .dockerignore, and the content digest a step's cache key holds.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { BuildError } from "./errors.ts";

export type NodeKind = "dir" | "file" | "symlink" | "other";

export interface TreeNode {
  kind: NodeKind;
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  mtime: Date;
  size: number;
  linkTarget?: string;
}

/** One matched COPY/ADD source. */
export interface Source {
  /** Where it is in the tree after following links: "/"-separated, no leading slash ("" is the root). */
  rel: string;
  /** The name it was matched by (a file copied into a directory keeps it, even through a link). */
  name: string;
  isDir: boolean;
}

/** An entry under a source, parents first. */
export interface TreeEntry extends TreeNode {
  /** Its path below the source ("" is the source itself). */
  sub: string;
  rel: string;
}

/** Go's filepath.Match for one path segment: *, ?, [classes] and escapes. */
export function segmentRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new BuildError(`syntax error in pattern ${JSON.stringify(pattern)}`, "INVALID");
      let cls = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const hasGlob = (p: string) => /[*?[]/.test(p);
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);
const basename = (rel: string) => rel.slice(rel.lastIndexOf("/") + 1);

export abstract class SourceTree {
  /** The node at `rel` without following a link in its last part; null when absent. */
  abstract stat(rel: string): Promise<TreeNode | null>;
  /** Names in a directory, in byte order. */
  abstract list(rel: string): Promise<string[]>;
  /** `rel` with every link on its way followed inside the tree (refused, or clamped, when one leads out). */
  abstract follow(rel: string): Promise<string>;
  /** sha256 (hex) of a file's contents. */
  abstract contentHash(rel: string): Promise<string>;
  /** Writes a file's contents to a new host file. */
  abstract writeFile(rel: string, dest: string): Promise<void>;
  abstract open(rel: string): Readable;
  /** A host directory (or file) holding `rel`, for a bind mount into RUN. */
  abstract hostPath(rel: string): Promise<string>;
  /** A source as written, made tree-relative; a context refuses what leads out. */
  protected abstract clean(source: string): string;

  /** Whether .dockerignore leaves a path out (contexts only). */
  ignored(_rel: string): boolean {
    return false;
  }

  /** The paths a COPY/ADD source matches, in name order; none is an error, as in Docker. */
  async resolve(source: string): Promise<Source[]> {
    const rel = this.clean(source);
    const parts = rel === "" ? [] : rel.split("/");
    let found: string[] = [""];
    for (const part of parts) {
      const next: string[] = [];
      for (const dir of found) {
        if (!hasGlob(part)) {
          next.push(join(dir, part));
          continue;
        }
        const re = segmentRegex(part);
        const real = await this.follow(dir).catch(() => null);
        if (real === null) continue;
        for (const n of await this.list(real)) if (re.test(n)) next.push(join(dir, n));
      }
      found = next;
    }
    const out: Source[] = [];
    for (const r of found) {
      if (this.ignored(r)) continue;
      const real = await this.follow(r);
      const node = await this.stat(real);
      if (!node) continue;
      out.push({ rel: real, name: basename(r), isDir: node.kind === "dir" });
    }
    if (out.length === 0) {
      throw new BuildError(
        hasGlob(rel)
          ? "no source files were specified"
          : `COPY failed: file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`,
        "INVALID",
      );
    }
    return out;
  }

  /** The source itself, then (for a directory) everything under it that is not ignored, parents first. */
  async *walk(src: Source): AsyncGenerator<TreeEntry> {
    const top = await this.stat(src.rel);
    if (!top) return;
    yield { ...top, sub: "", rel: src.rel };
    if (top.kind !== "dir") return;
    const visit = async function* (this: SourceTree, rel: string, sub: string): AsyncGenerator<TreeEntry> {
      for (const name of await this.list(rel)) {
        const r = join(rel, name);
        if (this.ignored(r)) continue;
        const node = await this.stat(r);
        if (!node) continue;
        const s = join(sub, name);
        yield { ...node, sub: s, rel: r };
        if (node.kind === "dir") yield* visit.call(this, r, s);
      }
    };
    yield* visit.call(this, src.rel, "");
  }

  /**
   * What a COPY's cache key needs of its sources: each entry's path, type, mode and contents
   * (a file's sha256, a link's target), never its times. Owners do not matter: COPY sets them.
   */
  async digest(sources: Source[]): Promise<string> {
    const h = createHash("sha256");
    for (const src of sources) {
      h.update(`source ${src.rel} as ${src.name}\0`);
      for await (const e of this.walk(src)) {
        h.update(`${e.sub}\0${e.kind}\0${e.mode.toString(8)}\0`);
        if (e.kind === "symlink") h.update(`link ${e.linkTarget}\0`);
        else if (e.kind === "file") h.update(`file ${await this.contentHash(e.rel)}\0`);
      }
    }
    return h.digest("hex");
  }

  /** The host path of one source (a RUN --mount bind), which must exist. */
  async path(source: string): Promise<string> {
    const rel = await this.follow(this.clean(source));
    if (!(await this.stat(rel))) throw new BuildError(`mount source ${source}: no such file or directory`, "INVALID");
    return this.hostPath(rel);
  }
}
