import { lstat, mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, posix, relative, resolve } from "node:path";
import { z } from "zod";
import { GitRefSchema, GitUrlSchema } from "../builds/schema.ts";
import { invalid } from "../errors.ts";
import { checkoutRef } from "../git/checkout.ts";
import { contextDir, gitTreeId } from "./build-contexts.ts";
import { loadCompose } from "./compose/index.ts";
import type { ComposeFile } from "./compose/schema.ts";

/*
 * A stack kept in git: its compose files live in a directory of a repository, at a ref. Reading
 * one fetches the ref and keeps only the stack's own files: the compose files, the directory's
 * `.env`, and the files they name (env files, `file:` configs). Those are what a deploy compares:
 * a push that changes none of them deploys nothing, however much else it changes (one repository
 * often holds many stacks, and the application's own code).
 */

/** How often a git stack is checked for new commits: 5 minutes unless set; never more often than a minute. 0: webhook only. */
export const DEFAULT_POLL_SECONDS = 300;

export const StackGitSourceSchema = z.object({
  url: GitUrlSchema,
  ref: GitRefSchema.default("main"),
  /** The stack's directory inside the repository ("" for its root). */
  path: z
    .string()
    .max(1024)
    .default("")
    .refine(
      (p) => p === "" || (!p.startsWith("/") && !p.split("/").some((s) => s === ".." || s === "" || s === ".")),
      "the path is a directory inside the repository, without . or .. parts",
    ),
  composeFiles: z.array(z.string().min(1).max(255)).min(1).max(8).default(["compose.yaml"]),
  profiles: z.array(z.string().min(1).max(64)).max(16).default([]),
  username: z.string().max(256).optional(),
  /** A password or token; stored sealed, never shown again. */
  password: z.string().max(4096).optional(),
  pollSeconds: z
    .number()
    .int()
    .refine((s) => s === 0 || (s >= 60 && s <= 86_400), "poll every 60 to 86400 seconds, or 0 for webhooks only")
    .default(DEFAULT_POLL_SECONDS),
});
export type StackGitSource = z.output<typeof StackGitSourceSchema>;

/** At most this much of the repository is kept as the stack's files. */
const MAX_FILE_BYTES = 1024 * 1024;

export interface GitStackFiles {
  commit: string;
  /** The stack's files, by path relative to its directory. */
  files: Record<string, string>;
  /** Git's tree id of each `build:` context, by its directory relative to the stack's. */
  contexts: Record<string, string>;
}

/** Fetches `ref` and reads the stack's files from its directory. `env` interpolates file names as a deploy would. */
export async function readGitStack(
  src: Pick<StackGitSource, "url" | "ref" | "path" | "composeFiles" | "profiles" | "username" | "password">,
  env: Record<string, string>,
): Promise<GitStackFiles> {
  const dir = await mkdtemp(join(tmpdir(), "berth-stack-git-"));
  try {
    const repo = join(dir, "repo");
    const commit = await checkoutRef(src.url, src.ref, repo, { username: src.username, password: src.password });
    const root = resolve(repo, src.path);
    const files: Record<string, string> = {};
    const take = async (name: string): Promise<boolean> => {
      const text = await readInside(repo, root, name);
      if (text === undefined) return false;
      files[name.replace(/^\.\//, "")] = text;
      return true;
    };
    for (const f of src.composeFiles)
      if (!(await take(f))) throw invalid(`the repository has no file ${join(src.path, f)} at ${src.ref} (commit ${commit.slice(0, 12)})`);
    await take(".env");
    // The files the compose files name: read the ones they ask for (env files), then the ones the model names.
    const asked = new Set<string>();
    const recording = new Proxy({} as Record<string, string>, {
      get: (_, key) => {
        if (typeof key === "string") asked.add(key);
        return undefined;
      },
    });
    const compose = () => src.composeFiles.map((f) => ({ name: f, text: files[f.replace(/^\.\//, "")]! }));
    try {
      loadCompose(compose(), {
        env,
        files: recording,
        profiles: src.profiles,
        ...(files[".env"] !== undefined ? { dotEnv: files[".env"] } : {}),
      });
    } catch {
      // Missing env files and the source's own problems: the stack's check names them.
    }
    for (const name of asked) await take(name);
    let model: ComposeFile | null = null;
    try {
      model = loadCompose(compose(), {
        env,
        files,
        profiles: src.profiles,
        ...(files[".env"] !== undefined ? { dotEnv: files[".env"] } : {}),
      }).model;
      for (const section of [model.configs, model.secrets])
        for (const def of Object.values(section ?? {})) if (def?.file !== undefined) await take(def.file);
    } catch {
      // As above.
    }
    // The build contexts' tree ids: a commit to a service's code is a change of the stack.
    const contexts: Record<string, string> = {};
    for (const svc of Object.values(model?.services ?? {})) {
      if (svc.build === undefined) continue;
      const dir = contextDir(typeof svc.build === "string" ? svc.build : (svc.build.context ?? "."));
      if (dir instanceof Error) continue; // The plan names it.
      contexts[dir] ??= await gitTreeId(repo, posix.join(src.path, dir).replace(/^\.$/, ""), commit);
    }
    return { commit, files, contexts };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A regular file's text under `root`, which must stay inside `repo` (symbolic links included); undefined when absent. */
async function readInside(repo: string, root: string, name: string): Promise<string | undefined> {
  if (isAbsolute(name)) throw invalid(`${name}: a stack's files are named relative to its directory`);
  const path = resolve(root, name);
  if (!inside(root, path)) throw invalid(`${name}: a stack's files stay inside its directory`);
  const info = await lstat(path).catch(() => null);
  if (!info) return undefined;
  const real = await realpath(path);
  if (!inside(await realpath(repo), real)) throw invalid(`${name}: a symbolic link out of the repository`);
  const target = info.isSymbolicLink() ? await lstat(real) : info;
  if (!target.isFile()) throw invalid(`${name} is not a file`);
  if (target.size > MAX_FILE_BYTES) throw invalid(`${name} is more than ${MAX_FILE_BYTES} bytes`);
  return readFile(real, "utf8");
}

const inside = (root: string, path: string) => {
  const r = relative(root, path);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
};
