// COPY and ADD as build steps: sources from the context, a stage or an image (`--from`), heredocs,
// and ADD's URLs; each keyed by what it copies (contents, never times) and written as one layer.
import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import type { Build, StageRun } from "./builder.ts";
import { copySources, writeFileAt, type Owner } from "./copy.ts";
import { DirTree } from "./dir-tree.ts";
import type { Instruction } from "./dockerfile.ts";
import { dockerfileError } from "./errors.ts";
import { writeLayer } from "./layer-writer.ts";
import { nopCreatedBy } from "./metadata.ts";
import { downloadForAdd, isArchive, unpackArchive } from "./add.ts";
import type { SourceTree } from "./source-tree.ts";
import { commitState } from "./state.ts";
import { expandVariables, processWord, processWords } from "./words.ts";

export async function copyStep(b: Build, run: StageRun, ins: Instruction): Promise<void> {
  const vars = b.vars(run);
  const words = ins.json ?? processWords(ins.args, vars, b.escape);
  if (words.length < 2)
    throw dockerfileError(
      ins.line,
      `${ins.keyword} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  for (const f of ["parents", "exclude"]) {
    if (ins.flags.has(f))
      throw dockerfileError(ins.line, `${ins.keyword} --${f} is a labs feature of BuildKit that Berth does not support`);
  }
  const dest = words[words.length - 1]!;
  const sources = words.slice(0, -1);
  const chown = ins.flags.get("chown")?.at(-1);
  const chownValue = chown ? processWord(chown, vars, b.escape) : undefined;
  const chmodText = ins.flags.get("chmod")?.at(-1);
  let mode: number | undefined;
  if (chmodText !== undefined) {
    if (!/^[0-7]{3,4}$/.test(chmodText))
      throw dockerfileError(ins.line, `invalid chmod parameter ${JSON.stringify(chmodText)}: it must be octal`);
    mode = Number.parseInt(chmodText, 8);
  }
  const workdir = run.state.config.config?.WorkingDir || "/";
  const opts = (owner: Owner) => ({ owner, dest, workdir, ...(mode !== undefined ? { mode } : {}) });
  const from = ins.flags.get("from")?.at(-1);
  if (from && ins.keyword === "ADD") throw dockerfileError(ins.line, "ADD does not take --from; use COPY --from");
  const createdBy = nopCreatedBy(ins, `${ins.keyword.toLowerCase()} ${sources.join(" ")} in ${dest}`);

  // Heredocs: the sources named <<NAME are files with the heredoc's body.
  const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
  const docs = sources.filter((s) => s.startsWith("<<"));
  if (docs.length) {
    const files = docs.map((s) => {
      const h = heredocs.get(s.replace(/^<<-?["']?|["']$/g, ""));
      if (!h) throw dockerfileError(ins.line, `no heredoc body for ${s}`);
      return { name: h.name, data: Buffer.from(h.expand ? expandVariables(h.content, vars, b.escape) : h.content) };
    });
    const key = [
      ins.keyword,
      "heredoc",
      files.map((f) => [f.name, createHash("sha256").update(f.data).digest("hex")]),
      dest,
      workdir,
      chownValue,
      mode,
    ];
    run.state = await b.cached(run, key, async () => {
      const layer = await writeLayer(b.layerDeps(), run.state.config.rootfs.diff_ids, async (root) => {
        const o = opts(await b.owner(root, chownValue));
        for (const f of files) await writeFileAt(root, f.name, f.data, 0o644, o);
      });
      return commitState(b.deps.images, run.state, run.state.config.config ?? {}, createdBy, layer);
    });
    return;
  }

  // ADD of URLs: downloaded each time, keyed by what came.
  if (ins.keyword === "ADD" && sources.some((s) => /^https?:\/\//i.test(s))) {
    if (sources.length !== 1) throw dockerfileError(ins.line, "ADD takes one URL at a time in Berth");
    const checksum = ins.flags.get("checksum")?.at(-1);
    const dl = await downloadForAdd(sources[0]!, b.workDir, checksum, b.abort.signal);
    const key = [ins.keyword, "url", sources[0], dl.sha256, dest, workdir, chownValue, mode];
    run.state = await b.cached(run, key, async () => {
      const layer = await writeLayer(b.layerDeps(), run.state.config.rootfs.diff_ids, async (root) => {
        await writeFileAt(root, dl.name, await readFile(dl.path), 0o600, opts(await b.owner(root, chownValue)), dl.mtime);
      });
      return commitState(b.deps.images, run.state, run.state.config.config ?? {}, createdBy, layer);
    });
    return;
  }

  const copyFrom = async (tree: SourceTree) => {
    const matched = (await Promise.all(sources.map((s) => tree.resolve(s)))).flat();
    if (matched.length > 1 && !dest.endsWith("/")) {
      throw dockerfileError(
        ins.line,
        `When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`,
      );
    }
    const digest = await tree.digest(matched);
    const key = [ins.keyword, from ?? "context", sources, digest, dest, workdir, chownValue, mode];
    run.state = await b.cached(run, key, async () => {
      const layer = await writeLayer(b.layerDeps(), run.state.config.rootfs.diff_ids, async (root) => {
        const o = opts(await b.owner(root, chownValue));
        for (const src of matched) {
          // ADD unpacks a local archive into the destination directory.
          if (ins.keyword === "ADD" && !src.isDir && (await isArchive(tree, src.rel))) {
            const dir = await unpackArchive(tree, src.rel, b.workDir);
            try {
              await copySources(root, new DirTree(dir), [{ rel: "", name: "", isDir: true }], {
                ...o,
                dest: dest.endsWith("/") ? dest : `${dest}/`,
              });
            } finally {
              await rm(dir, { recursive: true, force: true });
            }
            continue;
          }
          await copySources(root, tree, [src], o);
        }
      });
      return commitState(b.deps.images, run.state, run.state.config.config ?? {}, createdBy, layer);
    });
  };
  if (from) await b.withTree(run, processWord(from, vars, b.escape), copyFrom);
  else await copyFrom(b.ctx);
}
