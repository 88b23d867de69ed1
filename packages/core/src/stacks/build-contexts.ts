import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import type { Readable } from "node:stream";
import type { BuildOrigin } from "../builds/runner.ts";
import { packDirectory } from "../builds/context-source.ts";
import { invalid } from "../errors.ts";
import { checkoutRef, gitEnv, runGit } from "../git/checkout.ts";

/*
 * The build contexts of a single-host stack's `build:` services. A context is a directory of the
 * stack: for an inline stack, its files under that directory (kept with the compose file); for a
 * git stack, that directory of the repository at the deploy's commit. Each has an identity (a
 * digest of its files, or git's tree id), so a deploy rebuilds a service's image, and recreates
 * its containers, only when its context changed.
 */

/** The label a stack's build sets on its image: the identity of the context and settings it was built from. */
export const BUILD_CONTEXT_LABEL = "berth.stack.build-context";

export interface StackContexts {
  /** The identity of the context at `context` (a directory relative to the stack's). */
  id(context: string): Promise<string>;
  /** The context as a tar stream, with where it came from (the build's record). */
  open(context: string): Promise<{ tar: Readable; origin: BuildOrigin; cleanup(): Promise<void> }>;
  /** Removes what was fetched. */
  close(): Promise<void>;
}

/** `context` as a directory inside the stack ("" for its own), or why it is not one. */
export function contextDir(context: string): string | Error {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith("git@"))
    return new Error(`build context ${context}: a context is a directory of the stack (keep the code in the stack's repository)`);
  if (posix.isAbsolute(context)) return new Error(`build context ${context}: a context is a directory of the stack, not an absolute path`);
  const dir = posix.normalize(context).replace(/\/+$/, "");
  if (dir === ".." || dir.startsWith("../")) return new Error(`build context ${context}: a context stays inside the stack's directory`);
  return dir === "." ? "" : dir;
}

/** What goes in a build's label besides its context: a changed Dockerfile name, argument or target rebuilds too. */
export function buildKey(
  contextId: string,
  settings: { dockerfile?: string; args: Record<string, string>; target?: string; labels: Record<string, string> },
): string {
  const sorted = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash("sha256")
    .update(
      JSON.stringify([
        contextId,
        settings.dockerfile ?? "Dockerfile",
        sorted(settings.args),
        settings.target ?? null,
        sorted(settings.labels),
      ]),
    )
    .digest("hex");
}

/** An inline stack's contexts: its files under each directory. */
export function inlineContexts(files: Record<string, string>): StackContexts {
  const under = (context: string) => {
    const dir = contextDir(context);
    if (dir instanceof Error) throw invalid(dir.message);
    const prefix = dir ? `${dir}/` : "";
    const picked = Object.entries(files)
      .filter(([path]) => path.startsWith(prefix))
      .map(([path, text]) => [path.slice(prefix.length), text] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (picked.length === 0)
      throw invalid(
        `the stack has no files under ${dir || "its directory"} to build from: add the Dockerfile and what it copies to the stack's files, or keep the stack in git`,
      );
    return picked;
  };
  return {
    async id(context) {
      const h = createHash("sha256");
      for (const [path, text] of under(context)) h.update(`${path}\0${Buffer.byteLength(text)}\0${text}`);
      return `sha256:${h.digest("hex")}`;
    },
    async open(context) {
      const picked = under(context);
      const dir = await mkdtemp(join(tmpdir(), "berth-stack-build-"));
      const cleanup = () => rm(dir, { recursive: true, force: true });
      try {
        for (const [path, text] of picked) {
          const file = join(dir, path);
          await mkdir(dirname(file), { recursive: true });
          await writeFile(file, text);
          await chmod(file, 0o644);
        }
        return { tar: await packDirectory(dir), origin: { kind: "stack" }, cleanup };
      } catch (e) {
        await cleanup();
        throw e;
      }
    },
    async close() {},
  };
}

export interface GitContextSource {
  url: string;
  ref: string;
  /** The deploy's commit: every context is read there. */
  commit: string;
  /** The stack's directory in the repository. */
  path: string;
  username?: string | undefined;
  password?: string | undefined;
}

/** A git stack's contexts: one checkout of the deploy's commit (made when first needed) for all of them. */
export function gitContexts(src: GitContextSource): StackContexts {
  let checkout: Promise<{ root: string; repo: string }> | null = null;
  const dirs: string[] = [];
  const fetched = () =>
    (checkout ??= (async () => {
      const root = await mkdtemp(join(tmpdir(), "berth-stack-ctx-"));
      dirs.push(root);
      const repo = join(root, "repo");
      await checkoutRef(src.url, src.commit, repo, { username: src.username, password: src.password });
      return { root, repo };
    })());
  const repoPath = (context: string) => {
    const dir = contextDir(context);
    if (dir instanceof Error) throw invalid(dir.message);
    return posix.join(src.path, dir).replace(/^\.$/, "");
  };
  return {
    async id(context) {
      const { repo } = await fetched();
      return gitTreeId(repo, repoPath(context), src.commit);
    },
    async open(context) {
      const { repo } = await fetched();
      const path = repoPath(context);
      await gitTreeId(repo, path, src.commit);
      return {
        tar: await packDirectory(path ? join(repo, path) : repo),
        origin: { kind: "git", git: { url: src.url, ref: src.ref, path, commit: src.commit } },
        cleanup: async () => undefined,
      };
    },
    async close() {
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/** git's id of the tree at `path` of the checkout's HEAD: equal ids, equal contents. */
export async function gitTreeId(repo: string, path: string, commit: string): Promise<string> {
  const env = gitEnv();
  const id = await runGit(["rev-parse", "--verify", "-q", path ? `HEAD:${path}` : "HEAD^{tree}"], repo, env).catch(() => "");
  const kind = id ? await runGit(["cat-file", "-t", id], repo, env).catch(() => "") : "";
  if (kind !== "tree") throw invalid(`the repository has no directory ${path || "/"} at commit ${commit.slice(0, 12)} to build from`);
  return `git:${id}`;
}
