// A build's context made on the control plane: a git checkout of one ref (the commit recorded),
// or the files a caller sent, packed as a tar stream for the agent. git runs with argument arrays
// and its credentials in the environment (never in argv, where `ps` would show them).
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { create as createTar } from "tar";
import { DomainError } from "../errors.ts";
import { MAX_UPLOAD_BYTES, type BuildSource } from "./schema.ts";

export interface PreparedContext {
  tar: Readable;
  /** The commit a git source was at. */
  commit?: string;
  cleanup(): Promise<void>;
}

/** Longest a git fetch may take. */
const GIT_TIMEOUT_MS = 5 * 60_000;

function git(args: string[], cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    // Only the variables above: the control plane's own environment (its database URL, its secrets) stays out of git's.
    execFile("git", args, { cwd, env: env as NodeJS.ProcessEnv, timeout: GIT_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err)
        reject(
          new DomainError(
            "UPSTREAM",
            `git ${args[0]} failed: ${String(stderr || err.message)
              .trim()
              .slice(0, 2000)}`,
          ),
        );
      else resolve(stdout.trim());
    });
  });
}

/** git's environment: no prompts, no system or user config, credentials as an HTTP header when given. */
function gitEnv(username?: string, password?: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: tmpdir(),
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    LC_ALL: "C",
  };
  if (password !== undefined) {
    const basic = Buffer.from(`${username ?? "git"}:${password}`).toString("base64");
    Object.assign(env, {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    });
  }
  return env;
}

/** Everything in `dir` but .git, as a tar stream. */
async function pack(dir: string): Promise<Readable> {
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
      return { tar: await pack(dir), cleanup };
    }
    const env = gitEnv(source.username, password);
    const repo = join(dir, "repo");
    await mkdir(repo);
    await git(["init", "-q"], repo, env);
    await git(["remote", "add", "origin", source.url], repo, env);
    // One ref, shallow where the server allows it (git:// and smart HTTP); a dumb HTTP server needs the whole history.
    await git(["fetch", "-q", "--depth", "1", "origin", source.ref], repo, env).catch(() =>
      git(["fetch", "-q", "origin", source.ref], repo, env),
    );
    await git(["checkout", "-q", "--detach", "FETCH_HEAD"], repo, env);
    const commit = await git(["rev-parse", "HEAD"], repo, env);
    const root = source.path ? join(repo, source.path) : repo;
    const entries = await readdir(root).catch(() => {
      throw new DomainError("INVALID", `the repository has no directory ${source.path} at ${source.ref}`);
    });
    if (entries.length === 0) throw new DomainError("INVALID", `the context directory ${source.path || "/"} is empty`);
    return { tar: await pack(root), commit, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
