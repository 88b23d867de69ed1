import { execFile } from "node:child_process";
import { constants, existsSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { AgentError } from "../errors.ts";

const run = promisify(execFile);

export class RuntimeError extends AgentError {
  override name = "RuntimeError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "FAILED", options);
  }
}

export interface RuncState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped";
  bundle: string;
}

/** The OCI runtime binary (runc, or anything with its CLI such as crun), called with argument arrays only. */
export class Runc {
  constructor(
    readonly binary: string,
    /** runc's own state root; one per agent so agents on one machine never see each other's containers. */
    readonly root: string,
  ) {}

  private async call(args: string[], input?: string): Promise<string> {
    try {
      const child = run(this.binary, ["--root", this.root, ...args], { maxBuffer: 16 << 20 });
      if (input !== undefined) {
        child.child.stdin?.end(input);
      }
      return (await child).stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new RuntimeError(`${this.binary} ${args[0]}: ${(err.stderr || err.message).trim()}`);
    }
  }

  /** The container's runtime state, or null when the runtime does not know it (deleted, or never created). */
  async state(id: string): Promise<RuncState | null> {
    try {
      return JSON.parse(await this.call(["state", id])) as RuncState;
    } catch (e) {
      if (e instanceof RuntimeError && /does not exist|not found/i.test(e.message)) return null;
      throw e;
    }
  }

  /**
   * Starts a created container. This is what `runc start` does, without the cost of starting a Go
   * binary on the path of every `docker run`: runc's init waits, after `create`, to write one byte
   * into `exec.fifo` in the container's state dir; reading it lets the init exec the process, and
   * removing the fifo marks the container running. Anything unexpected falls back to `runc start`,
   * which reports the runtime's own error.
   */
  async start(id: string): Promise<void> {
    const fifo = join(this.root, id, "exec.fifo");
    const init = this.initOf(id);
    if (!init || !existsSync(fifo) || processStartTime(init.pid) !== init.start) {
      await this.call(["start", id]);
      return;
    }
    // Non-blocking, so a reader never hangs on an init that died: until the init has opened its end,
    // reads see end-of-file; afterwards they wait for its byte.
    const fh = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    let started = false;
    try {
      const buf = Buffer.alloc(16);
      for (let i = 0; !started; i++) {
        const n = await fh.read(buf, 0, buf.length, null).then(
          (r) => r.bytesRead,
          (e: NodeJS.ErrnoException) => (e.code === "EAGAIN" ? 0 : Promise.reject(e)),
        );
        if (n > 0) started = true;
        else if (i % 100 === 99 && processStartTime(init.pid) !== init.start)
          throw new RuntimeError(`${this.binary} start: container process is already dead`);
        else if (i > 10_000) throw new RuntimeError(`${this.binary} start: the container's init did not answer`);
        else await sleep(i < 20 ? 0 : 1);
      }
    } finally {
      await fh.close();
    }
    await unlink(fifo).catch(() => undefined);
  }

  /** The init process of a created container, from runc's state file. */
  private initOf(id: string): { pid: number; start: number } | null {
    try {
      const state = JSON.parse(readFileSync(join(this.root, id, "state.json"), "utf8")) as {
        init_process_pid?: number;
        init_process_start?: number;
      };
      return typeof state.init_process_pid === "number" && typeof state.init_process_start === "number"
        ? { pid: state.init_process_pid, start: state.init_process_start }
        : null;
    } catch {
      return null;
    }
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.call(["kill", ...(all ? ["--all"] : []), id, signal]);
  }

  async delete(id: string, force = false): Promise<void> {
    await this.call(["delete", ...(force ? ["--force"] : []), id]);
  }

  /**
   * What `runc delete` does for a container whose processes are all gone (its cgroups and its
   * state dir go), without starting a runtime process: this is on every container exit, and a
   * process costs tens of milliseconds there. Reads runc's state.json; anything unexpected (another
   * runtime's layout, a live init, a busy cgroup) answers false, and the caller runs `delete`.
   */
  deleteStopped(id: string): boolean {
    const dir = join(this.root, id);
    let state: { init_process_pid?: number; init_process_start?: number; cgroup_paths?: Record<string, string> };
    try {
      state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as typeof state;
    } catch {
      return false;
    }
    if (!state.cgroup_paths || typeof state.init_process_pid !== "number") return false;
    if (processStartTime(state.init_process_pid) === state.init_process_start) return false;
    for (const path of new Set(Object.values(state.cgroup_paths))) {
      try {
        rmdirSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") return false;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    return true;
  }

  async pause(id: string): Promise<void> {
    await this.call(["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.call(["resume", id]);
  }

  /** Host PIDs of every process in the container. */
  async pids(id: string): Promise<number[]> {
    return JSON.parse(await this.call(["ps", "--format", "json", id])) as number[];
  }

  /** Changes resource limits of a running container (an OCI LinuxResources object). */
  async update(id: string, resources: object): Promise<void> {
    await this.call(["update", "--resources", "-", id], JSON.stringify(resources));
  }
}

/** A process's start time (clock ticks after boot, /proc/<pid>/stat field 22), or undefined when it is gone. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return undefined;
  }
}
