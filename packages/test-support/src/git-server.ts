// A git repository served over git:// by `git daemon` (Debian's git), for builds and stacks from
// git: on loopback, or on a lab address the test made. Commits are made with a fixed identity.
// `http()` also serves the repositories over git's dumb HTTP protocol behind Basic auth, for
// tests of credentials.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";
import { accepts, waitFor } from "./wait.ts";

export interface GitServer {
  /** git://host:port/ — repositories are under it by name. */
  url: string;
  /** Makes (or adds a commit to) repository `name` with `files`; returns the commit. */
  commit(name: string, files: Record<string, string>, branch?: string): string;
  /** Serves the repositories over dumb HTTP on loopback, to `username`:`password` only; returns its base URL. */
  http(username: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Berth Test",
  GIT_AUTHOR_EMAIL: "test@berth.invalid",
  GIT_COMMITTER_NAME: "Berth Test",
  GIT_COMMITTER_EMAIL: "test@berth.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

const git = (cwd: string, args: string[]) =>
  execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

export async function startGitServer(host = "127.0.0.1"): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), "berth-git-"));
  const port = await freeLoopbackPort();
  const daemon: ChildProcess = spawn(
    "git",
    ["daemon", "--reuseaddr", "--export-all", "--informative-errors", `--base-path=${root}`, `--listen=${host}`, `--port=${port}`, root],
    { env: GIT_ENV, stdio: "ignore" },
  );
  let http: Server | null = null;
  const stop = async () => {
    if (http) await new Promise((r) => http!.close(r));
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor("git daemon", () => accepts(host, port), 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: `git://${host}:${port}/`,
    commit(name, files, branch = "main") {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      try {
        git(dir, ["rev-parse", "--git-dir"]);
      } catch {
        git(dir, ["init", "-q", "-b", branch]);
      }
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      git(dir, ["add", "-A"]);
      git(dir, ["commit", "-q", "-m", `commit ${Object.keys(files).join(", ")}`]);
      // What the dumb HTTP protocol reads to find refs and packs.
      git(dir, ["update-server-info"]);
      return git(dir, ["rev-parse", "HEAD"]);
    },
    async http(username, password) {
      const expected = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
      http = createServer((req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { "www-authenticate": 'Basic realm="git"' }).end();
          return;
        }
        // /<name>/<path> → <root>/<name>/.git/<path>
        const [, name, ...rest] = decodeURIComponent((req.url ?? "/").split("?")[0]!).split("/");
        const file = normalize(join(root, name ?? "", ".git", ...rest));
        if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200).end(readFileSync(file));
      });
      const httpPort = await freeLoopbackPort();
      await new Promise<void>((r) => http!.listen(httpPort, "127.0.0.1", r));
      return `http://127.0.0.1:${httpPort}/`;
    },
    stop,
  };
}
