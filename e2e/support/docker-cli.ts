// The stock docker CLI (v28, on the machine) against a Berth agent's Docker API socket: plain
// runs, and runs in a pseudo-terminal driven step by step for -it, exec -it and attach.
import { execFile, spawn } from "node:child_process";

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
  run(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
  /** The command in a pty (a python3 pty relay): its exit code and everything the terminal showed. */
  tty(args: string[], steps: TtyStep[], timeoutMs?: number): Promise<{ code: number; output: string }>;
  env: NodeJS.ProcessEnv;
}

// pty.spawn copies our stdin to the terminal and the terminal to our stdout.
const PTY_RELAY = "import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))";

export function dockerCli(socketPath: string, configDir: string): DockerCli {
  const env = { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: "false" };
  return {
    env,
    run: (args, opts = {}) =>
      new Promise((resolve) => {
        const child = execFile("docker", args, { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
        if (opts.input !== undefined) child.stdin!.end(opts.input);
        else child.stdin!.end();
      }),
    tty: (args, steps, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const child = spawn("python3", ["-c", PTY_RELAY, "docker", ...args], { env: { ...env, TERM: "xterm" }, stdio: ["pipe", "pipe", "pipe"] });
        let output = "";
        let step = 0;
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`docker ${args.join(" ")} timed out at step ${step}; the terminal showed:\n${output}`));
        }, timeoutMs);
        let pending = false;
        const advance = () => {
          if (pending || step >= steps.length) return;
          const s = steps[step]!;
          if (s.wait && !s.wait.test(output)) return;
          // A moment after what was awaited: busybox's shell follows its prompt with a cursor-position
          // query and takes bytes typed while it waits for the answer as that answer.
          pending = true;
          setTimeout(() => {
            pending = false;
            child.stdin.write(s.send);
            step++;
            advance();
          }, s.wait ? 300 : 0);
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
