import { execFile } from "node:child_process";
import { AgentError } from "../errors.ts";

/** An external program exited non-zero (or could not be started). Carries its stderr for the message. */
export class ProgramError extends AgentError {
  override name = "ProgramError";
  constructor(
    readonly program: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(
      `${program} ${args.join(" ")} failed${exitCode === null ? "" : ` (exit ${exitCode})`}: ${stderr.trim() || String(cause)}`,
      "FAILED",
      { cause },
    );
  }
}

/**
 * Runs `program` with an argument array (never a shell string) and resolves with stdout.
 * Shared by the one-module-per-program wrappers in this folder.
 */
export function run(program: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      [...args],
      { maxBuffer: 64 * 1024 * 1024, encoding: "utf8", env: { ...process.env, LC_ALL: "C" }, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          reject(new ProgramError(program, args, code, stderr, err));
          return;
        }
        resolve(stdout);
      },
    );
  });
}
