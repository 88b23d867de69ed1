import { execFile } from "node:child_process";
import { readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export class RuntimeError extends Error {
  override name = "RuntimeError";
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

  async start(id: string): Promise<void> {
    await this.call(["start", id]);
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
