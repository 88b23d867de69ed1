// A build's context made on the control plane: a git checkout of one ref (the commit recorded),
// or the files a caller sent, packed as a tar stream for the agent.
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { create as createTar } from "tar";
import { DomainError } from "../errors.ts";
import { checkoutRef } from "../git/checkout.ts";
import { MAX_UPLOAD_BYTES, type BuildSource } from "./schema.ts";

export interface PreparedContext {
  tar: Readable;
  /** The commit a git source was at. */
  commit?: string;
  cleanup(): Promise<void>;
}

/** Everything in `dir` but .git, as a tar stream. */
export async function packDirectory(dir: string): Promise<Readable> {
  const entries = (await readdir(dir)).filter((e) => e !== ".git");
  return createTar({ cwd: dir, portable: true, follow: false, noDirRecurse: false }, entries) as unknown as Readable;
}

export async function prepareContext(source: BuildSource, password?: string): Promise<PreparedContext> {
  const dir = await mkdtemp(join(tmpdir(), "berth-build-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    if (source.kind === "archive") {
      const data = Buffer.from(source.data, "base64");
      if (data.length > MAX_UPLOAD_BYTES)
        throw new DomainError("INVALID", `the archive is more than ${MAX_UPLOAD_BYTES} bytes: build large contexts from git`);
      return { tar: Readable.from([data]), cleanup };
    }
    if (source.kind === "upload") {
      let total = 0;
      for (const f of source.files) {
        const data = Buffer.from(f.data, "base64");
        total += data.length;
        if (total > MAX_UPLOAD_BYTES)
          throw new DomainError("INVALID", `the files sent are more than ${MAX_UPLOAD_BYTES} bytes: build large contexts from git`);
        const path = join(dir, f.path);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, data);
        await chmod(path, f.mode ?? 0o644);
      }
      return { tar: await packDirectory(dir), cleanup };
    }
    const repo = join(dir, "repo");
    const commit = await checkoutRef(source.url, source.ref, repo, { username: source.username, password });
    const root = source.path ? join(repo, source.path) : repo;
    const entries = await readdir(root).catch(() => {
      throw new DomainError("INVALID", `the repository has no directory ${source.path} at ${source.ref}`);
    });
    if (entries.length === 0) throw new DomainError("INVALID", `the context directory ${source.path || "/"} is empty`);
    return { tar: await packDirectory(root), commit, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
