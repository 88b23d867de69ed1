// The build context: the tar a client sends, spooled to disk under a size limit and unpacked with
// the same strict filter as image layers, then read only through `BuildContext`, which keeps
// every source inside it and hides what .dockerignore excludes.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, readdir, readFile, readlink, realpath, mkdir, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import ignore, { type Ignore } from "@balena/dockerignore";
import { resolveInRoot } from "../containers/root-path.ts";
import { unpackLayer } from "../snapshots/index.ts";
import { BuildError } from "./errors.ts";

/** Default limit on a context's bytes as sent (compressed or not); `BERTH_BUILD_CONTEXT_MAX` changes it. */
export const DEFAULT_CONTEXT_LIMIT = 2 * 1024 * 1024 * 1024;

/** Spools `body` to `dir`, refusing it past `limit` bytes before anything is unpacked, then unpacks it. */
export async function receiveContext(body: Readable, dir: string, limit: number): Promise<BuildContext> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const spool = join(dir, "context.tar");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > limit) cb(new BuildError(`the build context is larger than the limit of ${limit} bytes`, "INVALID"));
      else cb(null, chunk);
    },
  });
  await pipeline(body, meter, createWriteStream(spool, { mode: 0o600 }));
  const root = join(dir, "root");
  await mkdir(root, { mode: 0o700 });
  if (bytes > 0) {
    try {
      // As a non-root unpack: no device nodes, no chowns; COPY sets owners itself.
      await unpackLayer(createReadStream(spool), root, { isRoot: false });
    } catch (e) {
      throw new BuildError(`the build context is not a valid tar archive: ${e instanceof Error ? e.message : String(e)}`, "INVALID", {
        cause: e,
      });
    }
  }
  await rm(spool, { force: true });
  return BuildContext.open(root);
}

/** One matched COPY/ADD source. */
export interface Source {
  /** Path inside the context, "/"-separated, no leading slash ("" is the context root). */
  rel: string;
  abs: string;
  isDir: boolean;
}

/** Go's filepath.Match for one path segment: *, ?, [classes] and escapes. */
function segmentRegex(pattern: string): RegExp {
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
      if (cls.startsWith("^")) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const hasGlob = (p: string) => /[*?[]/.test(p);

export class BuildContext {
  private constructor(
    readonly root: string,
    private readonly rules: Ignore | null,
    /** An image's (or stage's) filesystem for COPY --from: absolute paths, links followed inside it. */
    private readonly isImage = false,
  ) {}

  /** Another image's filesystem mounted at `root`, as COPY --from and RUN --mount=from read it. */
  static image(root: string): BuildContext {
    return new BuildContext(root, null, true);
  }

  static async open(root: string): Promise<BuildContext> {
    let rules: Ignore | null = null;
    try {
      const text = await readFile(join(root, ".dockerignore"), "utf8");
      const patterns = text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
      if (patterns.length) rules = ignore().add(patterns);
    } catch {
      // no .dockerignore
    }
    return new BuildContext(root, rules);
  }

  /** Whether .dockerignore excludes a context path (the CLI usually left it out already). */
  ignored(rel: string): boolean {
    return rel !== "" && this.rules !== null && this.rules.ignores(rel);
  }

  /** The Dockerfile's text, by its path in the context. */
  async dockerfile(name: string): Promise<string> {
    const rel = this.clean(name, "the Dockerfile");
    const abs = await this.inside(rel);
    try {
      return await readFile(abs, "utf8");
    } catch {
      throw new BuildError(`Cannot locate specified Dockerfile: ${name}`, "INVALID");
    }
  }

  /** A source as written, made context-relative; anything that leads out is refused. */
  private clean(source: string, what = "COPY source"): string {
    if (this.isImage) return posix.normalize(`/${source}`).slice(1).replace(/\/+$/, "");
    if (source.startsWith("/")) {
      throw new BuildError(`${what} ${source} is an absolute path: sources are paths inside the build context`, "INVALID");
    }
    const norm = posix.normalize(source);
    if (norm === ".." || norm.startsWith("../")) throw new BuildError(`forbidden path outside the build context: ${source}`, "INVALID");
    return norm === "." ? "" : norm.replace(/\/+$/, "");
  }

  /** The host path of a context path, after following its symlinks, which must stay inside. */
  private async inside(rel: string): Promise<string> {
    if (this.isImage) return resolveInRoot(this.root, rel) ?? join(this.root, rel);
    const abs = join(this.root, rel);
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      return abs; // missing: reported by the caller
    }
    const rootReal = await realpath(this.root);
    if (real !== rootReal && !real.startsWith(`${rootReal}/`)) {
      throw new BuildError(`forbidden path outside the build context: ${rel} leads to a path outside it`, "INVALID");
    }
    return real;
  }

  /** The host path of one source (a RUN --mount bind), which must exist. */
  async path(source: string): Promise<string> {
    const abs = await this.inside(this.clean(source, "mount source"));
    await lstat(abs).catch(() => {
      throw new BuildError(`mount source ${source}: no such file or directory`, "INVALID");
    });
    return abs;
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
          next.push(dir ? `${dir}/${part}` : part);
          continue;
        }
        const re = segmentRegex(part);
        let names: string[] = [];
        try {
          names = await readdir(join(this.root, dir));
        } catch {
          continue;
        }
        for (const n of names.sort()) if (re.test(n)) next.push(dir ? `${dir}/${n}` : n);
      }
      found = next;
    }
    const out: Source[] = [];
    for (const r of found) {
      if (this.ignored(r)) continue;
      const abs = await this.inside(r);
      const st = await lstat(abs).catch(() => null);
      if (!st) continue;
      out.push({ rel: r, abs, isDir: st.isDirectory() });
    }
    if (out.length === 0) {
      throw new BuildError(
        hasGlob(rel)
          ? `no source files were specified`
          : `COPY failed: file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`,
        "INVALID",
      );
    }
    return out;
  }

  /**
   * Walks a source: the entry itself, then (for a directory) everything under it that is not
   * ignored, parents first, names in order. `sub` is the path below the source.
   */
  async *walk(src: Source): AsyncGenerator<{ sub: string; abs: string; rel: string }> {
    if (!src.isDir) {
      yield { sub: "", abs: src.abs, rel: src.rel };
      return;
    }
    const visit = async function* (
      this: BuildContext,
      absDir: string,
      relDir: string,
      sub: string,
    ): AsyncGenerator<{ sub: string; abs: string; rel: string }> {
      for (const name of (await readdir(absDir)).sort()) {
        const rel = relDir ? `${relDir}/${name}` : name;
        if (this.ignored(rel)) continue;
        const abs = join(absDir, name);
        const s = sub ? `${sub}/${name}` : name;
        yield { sub: s, abs, rel };
        if ((await lstat(abs)).isDirectory()) yield* visit.call(this, abs, rel, s);
      }
    };
    yield* visit.call(this, src.abs, src.rel, "");
  }

  /**
   * What a COPY's cache key needs of its sources: each entry's path, type, mode and contents
   * (a file's sha256, a link's target), never its times. Owners do not matter: COPY sets them.
   */
  async digest(sources: Source[]): Promise<string> {
    const h = createHash("sha256");
    for (const src of sources) {
      h.update(`source ${src.rel}\0`);
      for await (const e of this.walk(src)) {
        const st = await lstat(e.abs);
        h.update(`${e.sub}\0${st.mode.toString(8)}\0`);
        if (st.isSymbolicLink()) h.update(`link ${await readlink(e.abs)}\0`);
        else if (st.isFile()) h.update(`file ${await fileSha256(e.abs)}\0`);
      }
    }
    return h.digest("hex");
  }
}

export async function fileSha256(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}
