import { execFile } from "node:child_process";
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
