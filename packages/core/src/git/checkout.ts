// git on the control plane (build contexts, stacks kept in git): one ref fetched into a directory
// of our own. git runs with argument arrays and a bare environment: its credentials go in as an
// HTTP header through the environment (never in argv, where `ps` would show them), and the control
// plane's own variables (its database URL, its secrets) stay out of git's.
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { DomainError } from "../errors.ts";

export interface GitCredentials {
  username?: string | undefined;
  password?: string | undefined;
}

/** Longest one git command may take. */
const GIT_TIMEOUT_MS = 5 * 60_000;

export function runGit(args: string[], cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, env: env as NodeJS.ProcessEnv, timeout: GIT_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(gitError(args[0] ?? "", String(stderr || err.message).trim()));
      else resolve(stdout.trim());
    });
  });
}

/** git's failures in words a user can act on; git's own message follows. */
function gitError(command: string, stderr: string): DomainError {
  const said = stderr.slice(0, 2000);
  if (/couldn't find remote ref|not our ref|unknown revision|invalid refspec/i.test(stderr))
    return new DomainError("INVALID", `the repository has no such ref (git ${command}: ${said})`);
  if (/authentication failed|could not read username|access denied|403|401|terminal prompts disabled/i.test(stderr))
    return new DomainError("INVALID", `the repository refused the credentials (git ${command}: ${said})`);
  if (
    /could not resolve host|connection refused|unable to connect|timed out|unable to look up|no route to host|could not read from remote/i.test(
      stderr,
    )
  )
    return new DomainError("UPSTREAM", `the repository cannot be reached (git ${command}: ${said})`);
  return new DomainError("UPSTREAM", `git ${command} failed: ${said}`);
}

/** git's environment: no prompts, no system or user config, credentials as an HTTP header when given. */
export function gitEnv(creds: GitCredentials = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: tmpdir(),
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    LC_ALL: "C",
  };
  if (creds.password !== undefined) {
    const basic = Buffer.from(`${creds.username ?? "git"}:${creds.password}`).toString("base64");
    Object.assign(env, {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    });
  }
  return env;
}

/** Checks out `ref` of `url` into `dir` (made if missing), detached; returns the commit. */
export async function checkoutRef(url: string, ref: string, dir: string, creds: GitCredentials = {}): Promise<string> {
  const env = gitEnv(creds);
  await mkdir(dir, { recursive: true });
  await runGit(["init", "-q"], dir, env);
  await runGit(["remote", "add", "origin", url], dir, env);
  // One ref, shallow where the server allows it (git:// and smart HTTP); a dumb HTTP server needs the whole history.
  await runGit(["fetch", "-q", "--depth", "1", "origin", ref], dir, env).catch((e: unknown) => {
    // A ref the server does not have fails the same way unshallow; only a refusal of --depth is worth the retry.
    if (e instanceof DomainError && e.code === "INVALID") throw e;
    return runGit(["fetch", "-q", "origin", ref], dir, env);
  });
  await runGit(["checkout", "-q", "--detach", "FETCH_HEAD"], dir, env);
  return runGit(["rev-parse", "HEAD"], dir, env);
}
