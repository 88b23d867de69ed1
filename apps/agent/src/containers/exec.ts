import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { constants } from "node:os";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { z } from "zod";
import { execWithTty } from "../runtime/index.ts";
import { hostCapabilities } from "../runtime/index.ts";
import { resolveUser, UserResolutionError } from "../runtime/index.ts";
import { ContainerError, notRunning } from "./errors.ts";
import type { ContainerService } from "./service.ts";

/** Docker's exec create body. */
export const ExecConfigSchema = z.object({
  Cmd: z.array(z.string().max(131_072)).min(1, "No exec command specified").max(4096),
  Env: z
    .array(
      z
        .string()
        .max(32_768)
        .regex(/^[^=\0]+(=[^\0]*)?$/),
    )
    .max(4096)
    .nullable()
    .optional(),
  User: z.string().max(256).optional(),
  WorkingDir: z.string().max(4096).optional(),
  Tty: z.boolean().optional(),
  AttachStdin: z.boolean().optional(),
  AttachStdout: z.boolean().optional(),
  AttachStderr: z.boolean().optional(),
  Privileged: z.boolean().optional(),
  DetachKeys: z.string().max(64).optional(),
});
export type ExecConfig = z.output<typeof ExecConfigSchema>;

interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  resize?: (rows: number, cols: number) => void;
  /** When the record is forgotten (see ExecRetention); null while its process runs. */
  expiresAt: number | null;
  /** Dropped the moment its process ends. */
  forgotten?: boolean;
}

/**
 * How long exec records are kept, so that health probes and busy clients do not grow the agent
 * forever. An exited exec is kept for a client to read its exit code: briefly once it has been
 * inspected, a few minutes otherwise; one never started goes after a few minutes too.
 */
export interface ExecRetention {
  exitedMs: number;
  inspectedMs: number;
  unstartedMs: number;
  /** Records kept at most; past it the oldest finished ones go first, and a create is refused if all run. */
  max: number;
}
export const DEFAULT_EXEC_RETENTION: ExecRetention = { exitedMs: 5 * 60_000, inspectedMs: 10_000, unstartedMs: 5 * 60_000, max: 4096 };

/** A started exec: its streams (stderr is merged into stdout with a TTY) and its exit code. */
export interface ExecSession {
  id: string;
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable | null;
  resize(rows: number, cols: number): void;
  /** SIGKILLs the exec'd process itself (not just runc), e.g. when a health probe times out. */
  kill(): void;
  exit: Promise<number>;
}

/**
 * Processes started in running containers (`docker exec`), through `runc exec` with the
 * container's own confinement. They are the agent's children: unlike containers they do not
 * outlive it, as with dockerd.
 */
export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(
    private readonly containers: ContainerService,
    private readonly python = "/usr/bin/python3",
    private readonly retention: ExecRetention = DEFAULT_EXEC_RETENTION,
  ) {
    setInterval(() => this.sweep(), Math.min(30_000, retention.inspectedMs)).unref();
  }

  /** Exec records held now (running, exited, or not yet started). */
  get size(): number {
    return this.execs.size;
  }

  /** Drops an exec's record as soon as it has finished (health probes, whose results live in the container's state). */
  forget(id: string): void {
    const e = this.execs.get(id);
    if (!e) return;
    if (e.running) e.forgotten = true;
    else this.execs.delete(id);
  }

  private sweep(now = Date.now()): void {
    for (const [id, e] of this.execs) if (e.expiresAt !== null && e.expiresAt <= now) this.execs.delete(id);
  }

  /** Room for one more record: expired ones go, then the oldest finished; refused when all are running. */
  private makeRoom(): void {
    this.sweep();
    if (this.execs.size < this.retention.max) return;
    for (const [id, e] of this.execs) {
      if (e.running) continue;
      this.execs.delete(id);
      if (this.execs.size < this.retention.max) return;
    }
    throw new ContainerError(`too many exec instances on this host (${this.retention.max} running); wait for some to finish`, "CONFLICT");
  }

  create(ref: string, input: z.input<typeof ExecConfigSchema>): { Id: string } {
    const rec = this.containers.get(ref);
    if (rec.state.Status === "paused")
      throw new ContainerError(`Container ${rec.id} is paused, unpause the container before exec`, "CONFLICT");
    if (!this.containers.isRunning(rec)) throw notRunning(rec.id);
    const config = ExecConfigSchema.parse(input);
    this.makeRoom();
    const id = randomBytes(32).toString("hex");
    this.execs.set(id, {
      id,
      containerId: rec.id,
      config,
      running: false,
      exitCode: null,
      pid: 0,
      expiresAt: Date.now() + this.retention.unstartedMs,
    });
    this.containers.event(`exec_create: ${commandLine(config)}`, rec, { execID: id });
    return { Id: id };
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    // The client has what it came for: the exit code of a finished exec.
    if (e.exitCode !== null) e.expiresAt = Math.min(e.expiresAt ?? Number.POSITIVE_INFINITY, Date.now() + this.retention.inspectedMs);
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: Boolean(e.config.Tty),
        entrypoint: e.config.Cmd[0],
        arguments: e.config.Cmd.slice(1),
        privileged: Boolean(e.config.Privileged),
        user: e.config.User ?? "",
      },
      OpenStdin: Boolean(e.config.AttachStdin),
      OpenStderr: e.config.AttachStderr ?? true,
      OpenStdout: e.config.AttachStdout ?? true,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys ?? "",
      Pid: e.pid,
    };
  }

  /** Exec IDs of a container, for its inspect. */
  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId && e.running).map((e) => e.id);
  }

  resize(id: string, rows: number, cols: number): void {
    const e = this.get(id);
    if (!e.running || !e.resize) throw new ContainerError(`exec ${id} is not running`, "CONFLICT");
    e.resize(rows, cols);
  }

  private get(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new ContainerError(`No such exec instance: ${id}`, "NOT_FOUND");
    return e;
  }

  async start(id: string): Promise<ExecSession> {
    const e = this.get(id);
    if (e.running || e.exitCode !== null) throw new ContainerError(`Error: Exec command ${id} has already run`, "CONFLICT");
    const rec = this.containers.get(e.containerId);
    if (!this.containers.isRunning(rec)) throw notRunning(rec.id);
    // Announced before the process is set up, as dockerd does: a start that fails from here has no exec_die.
    this.containers.event(`exec_start: ${commandLine(e.config)}`, rec, { execID: id });
    const spec = await this.processSpec(rec.id, e.config);
    const specPath = join(this.containers.paths.dir(rec.id), `exec-${id}.json`);
    writeFileSync(specPath, JSON.stringify(spec));
    const runc = this.containers.runc.for(rec.id);
    e.running = true;
    e.expiresAt = null;
    let session: ExecSession;
    if (e.config.Tty) {
      // A short path: unix socket paths are limited to 108 bytes.
      const socketPath = join(this.containers.paths.socketsDir, `x-${id.slice(0, 16)}.sock`);
      const tty = execWithTty({
        python: this.python,
        runc: runc.binary,
        root: runc.root,
        id: rec.id,
        processSpec: specPath,
        socketPath,
        pidFile: `${specPath}.pid`,
      });
      e.resize = tty.resize;
      const exit = exitOf(tty.child).then((code) => {
        const diag = tty.diagnostics();
        if (code !== 0 && /Traceback/.test(diag))
          throw new ContainerError(`exec with a TTY failed: ${diag.trim().split("\n").pop()}`, "FAILED");
        return startFailureCode(code, diag);
      });
      session = {
        id,
        stdin: e.config.AttachStdin ? tty.input : null,
        stdout: tty.output,
        stderr: null,
        resize: tty.resize,
        kill: () => killByPidFile(`${specPath}.pid`),
        exit,
      };
      if (!e.config.AttachStdin) tty.input.end();
    } else {
      const child = spawn(runc.binary, ["--root", runc.root, "exec", "--pid-file", `${specPath}.pid`, "--process", specPath, rec.id], {
        stdio: [e.config.AttachStdin ? "pipe" : "ignore", "pipe", "pipe"],
      });
      e.resize = () => undefined;
      // runc's own complaint (a command it could not start) arrives on the exec's stderr; its tail decides the exit code.
      const stderr = tailOf(child.stderr!);
      session = {
        id,
        stdin: child.stdin,
        stdout: child.stdout!,
        stderr: stderr.stream,
        resize: () => undefined,
        kill: () => killByPidFile(`${specPath}.pid`),
        exit: exitOf(child).then((code) => startFailureCode(code, stderr.tail())),
      };
    }
    const ended = (code: number) => {
      e.running = false;
      e.exitCode = code;
      e.expiresAt = e.forgotten ? 0 : Date.now() + this.retention.exitedMs;
      if (e.forgotten) this.execs.delete(id);
      rmSync(specPath, { force: true });
      rmSync(`${specPath}.pid`, { force: true });
      this.containers.event("exec_die", this.containers.store.get(rec.id) ?? rec, { execID: id, exitCode: String(code) });
    };
    session.exit = session.exit.then(
      (code) => {
        ended(code);
        return code;
      },
      (err: unknown) => {
        ended(126);
        throw err;
      },
    );
    return session;
  }

  /** The container's own process spec with the exec's command, env, user, cwd and terminal. */
  private async processSpec(containerId: string, c: ExecConfig): Promise<Record<string, unknown>> {
    const base = JSON.parse(readFileSync(join(this.containers.paths.bundle(containerId), "config.json"), "utf8")) as {
      process: Record<string, unknown> & { env: string[]; user: unknown; cwd: string };
    };
    const p = { ...base.process };
    const env = new Map<string, string>();
    for (const kv of [...p.env, ...(c.Env ?? [])]) env.set(kv.split("=", 1)[0]!, kv);
    if (c.Tty && !env.has("TERM")) env.set("TERM", "TERM=xterm");
    p.env = [...env.values()];
    p.args = c.Cmd;
    p.terminal = Boolean(c.Tty);
    if (c.Privileged) {
      const all = hostCapabilities();
      p.capabilities = { bounding: all, effective: all, permitted: all, inheritable: [] };
    }
    if (c.WorkingDir) {
      if (!c.WorkingDir.startsWith("/"))
        throw new ContainerError(`the working directory '${c.WorkingDir}' is invalid, it needs to be an absolute path`, "INVALID");
      p.cwd = c.WorkingDir;
    }
    if (c.User) {
      try {
        const groupAdd = this.containers.store.get(containerId)?.config.HostConfig.GroupAdd ?? [];
        const u = await resolveUser(this.containers.rootfs(containerId), c.User, groupAdd);
        p.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
      } catch (err) {
        if (err instanceof UserResolutionError) throw new ContainerError(err.message, "INVALID");
        throw err;
      }
    }
    return p;
  }
}

/**
 * SIGKILLs the exec'd process. runc writes its pid file only once the process runs, so a kill
 * that comes first (a health probe timing out at once) waits for the file, for a few seconds.
 */
function killByPidFile(path: string, deadline = Date.now() + 5_000): void {
  let pid = 0;
  try {
    pid = Number(readFileSync(path, "utf8").trim());
  } catch {
    // not written yet, or the exec is over and its files are gone
  }
  if (pid > 1) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
    return;
  }
  if (Date.now() < deadline && existsSync(dirname(path))) setTimeout(() => killByPidFile(path, deadline), 50).unref();
}

/** How much of an exec's stderr is kept to read runc's start error from. */
const STDERR_TAIL = 4096;

/** The stream passed through unchanged, with its last STDERR_TAIL bytes kept. */
function tailOf(source: Readable): { stream: Readable; tail: () => string } {
  let kept = Buffer.alloc(0);
  const stream = new PassThrough();
  source.on("data", (chunk: Buffer) => {
    kept = kept.length + chunk.length > STDERR_TAIL ? Buffer.concat([kept, chunk]).subarray(-STDERR_TAIL) : Buffer.concat([kept, chunk]);
  });
  source.pipe(stream);
  return { stream, tail: () => kept.toString("utf8") };
}

/**
 * runc exits 255 when it cannot start the command at all. dockerd gives an exec that could not
 * start exit code 126 whatever the cause, a missing command included (127 is for a container's
 * own command only), and so does Berth.
 */
function startFailureCode(code: number, runcOutput: string): number {
  if (code !== 255 || !/exec failed|unable to start container process/.test(runcOutput)) return code;
  return 126;
}

function exitOf(child: import("node:child_process").ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + (osSignal(signal) ?? 0) : 1)));
  });
}

function osSignal(name: NodeJS.Signals): number | undefined {
  return constants.signals[name];
}

/** The command as dockerd names it in exec events: the program, a space, then its arguments. */
function commandLine(c: ExecConfig): string {
  return `${c.Cmd[0]} ${c.Cmd.slice(1).join(" ")}`;
}
