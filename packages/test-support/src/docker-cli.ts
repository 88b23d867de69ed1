// Stock docker CLIs against a Berth agent's Docker API socket: plain runs, and runs in a
// pseudo-terminal driven step by step for -it, exec -it and attach. Tests run with every distinct
// CLI from dockerClis(): Debian's (old API) and the machine's own (usually newer).
import { execFile, spawn } from "node:child_process";
import { accessSync, constants, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TtyStep {
  /** Wait until the output so far matches, then send. */
  wait?: RegExp;
  send: string;
}

export interface DockerCli {
  /** The CLI binary every run uses. */
  bin: string;
  run(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
  /** The command in a pty (a python3 pty relay): its exit code and everything the terminal showed. */
  tty(args: string[], steps: TtyStep[], timeoutMs?: number): Promise<{ code: number; output: string }>;
  env: NodeJS.ProcessEnv;
}

/**
 * Debian's docker.io CLI (20.10, API 1.41), which `npm test`'s bootstrap installs (or Docker's own
 * docker-ce-cli, which the bootstrap leaves in place: the two conflict). Expected API versions are
 * worked out from each CLI's own, never from its path.
 */
export const DEBIAN_DOCKER = "/usr/bin/docker";

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `docker` on PATH, as a shell would run it, or null. */
function dockerOnPath(): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, "docker"))) return join(dir, "docker");
  }
  return null;
}

/**
 * The distinct docker CLIs to test with: Debian's, plus the one on PATH when it is another
 * binary (v28 where the machine has one). Old and new clients speak different API versions and
 * send different bodies, so both must work.
 */
export function dockerClis(): string[] {
  if (!executable(DEBIAN_DOCKER)) {
    throw new Error(
      `${DEBIAN_DOCKER} is missing: \`npm test\` installs it (Debian's docker.io); ` +
        "or run apt-get install --no-install-recommends docker.io",
    );
  }
  const clis = [DEBIAN_DOCKER];
  const onPath = dockerOnPath();
  if (onPath && realpathSync(onPath) !== realpathSync(DEBIAN_DOCKER)) clis.push(onPath);
  return clis;
}

/** Orders API versions such as `1.9` < `1.41`. */
export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}

/** The API version a client and a server settle on: the lower of the two (`1.41`, `1.47`). */
export function negotiatedVersion(clientVersion: string, serverVersion: string): string {
  return compareApiVersions(clientVersion, serverVersion) < 0 ? clientVersion : serverVersion;
}

// pty.spawn copies our stdin to the terminal and the terminal to our stdout.
const PTY_RELAY = "import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))";

export function dockerCli(
  /** A unix socket's path, or a tcp://host:port daemon address. */
  endpoint: string,
  configDir: string,
  bin: string,
  /** A directory with ca.pem: TLS, verified against it (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
  tlsCaDir?: string,
): DockerCli {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: endpoint.startsWith("tcp://") ? endpoint : `unix://${endpoint}`,
    DOCKER_CONFIG: configDir,
    DOCKER_CLI_HINTS: "false",
    ...(tlsCaDir ? { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tlsCaDir } : {}),
  };
  return {
    bin,
    env,
    run: (args, opts = {}) =>
      new Promise((resolve) => {
        const child = execFile(bin, args, { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
        if (opts.input !== undefined) child.stdin!.end(opts.input);
        else child.stdin!.end();
      }),
    tty: (args, steps, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const child = spawn("python3", ["-c", PTY_RELAY, bin, ...args], {
          env: { ...env, TERM: "xterm" },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let output = "";
        let step = 0;
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`${bin} ${args.join(" ")} timed out at step ${step}; the terminal showed:\n${output}`));
        }, timeoutMs);
        let pending = false;
        const advance = () => {
          if (pending || step >= steps.length) return;
          const s = steps[step]!;
          if (s.wait && !s.wait.test(output)) return;
          // A moment after what was awaited: busybox's shell follows its prompt with a cursor-position
          // query and takes bytes typed while it waits for the answer as that answer.
          pending = true;
          setTimeout(
            () => {
              pending = false;
              child.stdin.write(s.send);
              step++;
              advance();
            },
            s.wait ? 300 : 0,
          );
        };
        let queries = 0;
        child.stdout.on("data", (d: Buffer) => {
          output += d.toString();
          // Answer cursor-position queries (ESC[6n) as a terminal does, so the shell is not left
          // waiting for an answer and taking the next typed bytes as it.
          const asked = output.split("\x1b[6n").length - 1;
          for (; queries < asked; queries++) child.stdin.write("\x1b[1;5R");
          advance();
        });
        child.stderr.on("data", (d: Buffer) => (output += d.toString()));
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? 1, output });
        });
        advance();
      }),
  };
}
