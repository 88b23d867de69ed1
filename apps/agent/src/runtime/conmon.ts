import { spawn } from "node:child_process";
import { closeSync, constants, openSync, writeSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { RuntimeError } from "./runc.ts";

export interface ConmonOptions {
  conmon: string;
  runtime: string;
  runtimeRoot: string;
  id: string;
  name: string;
  bundle: string;
  /** conmon writes `<exitDir>/<id>` with the exit code when the container's init exits. */
  exitDir: string;
  /** Per-container dir: conmon writes `exit` and, after an OOM kill, `oom` here. */
  persistDir: string;
  /** The container's log file; null for the `none` log driver (conmon keeps nothing). */
  logPath: string | null;
  pidFile: string;
  conmonPidFile: string;
  socketDir: string;
  /** conmon's own diagnostics (it double-forks, so they cannot go to a pipe of ours). */
  conmonLog: string;
  tty: boolean;
  stdin: boolean;
  /** Close the container's stdin when the first attached client closes it (Docker's StdinOnce). */
  stdinOnce?: boolean;
}

/**
 * Starts conmon, which runs `runtime create` and then supervises the container: it holds its
 * stdio, writes the log, and records the exit code. conmon double-forks, so it outlives the agent.
 * Resolves with the container's init PID once the runtime has created it (not started it).
 */
export async function createWithConmon(o: ConmonOptions): Promise<{ pid: number }> {
  const args = [
    "--api-version",
    "1",
    "-c",
    o.id,
    "-u",
    o.id,
    "-n",
    o.name,
    "-r",
    o.runtime,
    "--runtime-arg",
    `--root=${o.runtimeRoot}`,
    "-b",
    o.bundle,
    "-p",
    o.pidFile,
    "--conmon-pidfile",
    o.conmonPidFile,
    "--exit-dir",
    o.exitDir,
    "-0",
    o.persistDir,
    "-l",
    o.logPath === null ? "none:" : `k8s-file:${o.logPath}`,
    "--socket-dir-path",
    o.socketDir,
    "--log-level",
    "warning",
  ];
  if (o.tty) args.push("-t");
  if (o.stdin) args.push("-i", ...(o.stdinOnce ? [] : ["--leave-stdin-open"]));
  const out = openSync(o.conmonLog, "a");
  try {
    // fd 3: conmon reports the created PID (or an error) here; fd 4: conmon waits on it before it creates.
    const child = spawn(o.conmon, args, {
      stdio: ["ignore", out, out, "pipe", "pipe"],
      // conmon writes an `oom` marker into its working directory as well as into the persist dir:
      // it runs in the container's bundle, never wherever the agent was started.
      cwd: o.bundle,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", _OCI_SYNCPIPE: "3", _OCI_STARTPIPE: "4" } as Record<
        string,
        string
      > as NodeJS.ProcessEnv,
      detached: true,
    });
    const sync = child.stdio[3] as Readable;
    const start = child.stdio[4] as Writable;
    // conmon closes both pipes when it is done with them; that is not an error of ours.
    start.on("error", () => undefined);
    const reply = new Promise<string>((resolve, reject) => {
      let text = "";
      sync.on("data", (d: Buffer) => {
        text += d.toString("utf8");
        if (text.includes("\n")) resolve(text);
      });
      sync.on("end", () => resolve(text));
      sync.on("error", (e) => (text ? resolve(text) : reject(e)));
      child.on("error", reject);
    });
    start.end("0");
    const text = await reply;
    sync.on("error", () => undefined);
    sync.destroy();
    start.destroy();
    child.unref();
    const first = text.split("\n").find((l) => l.trim()) ?? "";
    let msg: { data?: number; message?: string };
    try {
      msg = JSON.parse(first) as { data?: number; message?: string };
    } catch {
      throw new RuntimeError(`conmon gave no container PID (${first || "no output"}); see ${o.conmonLog}`);
    }
    if (typeof msg.data !== "number" || msg.data <= 0)
      throw new RuntimeError(`creating the container failed: ${msg.message ?? "unknown error"}`);
    return { pid: msg.data };
  } finally {
    closeSync(out);
  }
}

/** conmon's control messages on its `ctl` FIFO in the bundle. */
export const CONMON_CTL = { resize: 1, reopenLogs: 2 } as const;

/**
 * Sends conmon a control message: a terminal resize (rows, columns) or a log reopen. Non-blocking:
 * with conmon gone nobody reads the FIFO, and opening it fails (ENXIO) instead of hanging. False then.
 */
export function sendConmonControl(ctlFifo: string, type: number, a = 0, b = 0): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(ctlFifo, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, `${type} ${a} ${b}\n`);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
