import { join } from "node:path";

/** Where a container's files live under the agent's state directory. */
export class ContainerPaths {
  /** One directory per container: its record, bundle, log and /etc files. */
  readonly containersDir: string;
  /** conmon writes exits/<id> with the exit code when a container's init exits. */
  readonly exitDir: string;
  /** Where attach and console sockets go (short paths: unix sockets allow 108 bytes). */
  readonly socketsDir: string;

  constructor(stateDir: string) {
    this.containersDir = join(stateDir, "containers");
    this.exitDir = join(stateDir, "exits");
    this.socketsDir = join(stateDir, "sockets");
  }

  dir(id: string): string {
    return join(this.containersDir, id);
  }
  bundle(id: string): string {
    return join(this.dir(id), "bundle");
  }
  rootfs(id: string): string {
    return join(this.bundle(id), "rootfs");
  }
  logPath(id: string): string {
    return join(this.dir(id), "container.log");
  }
  /** conmon's control FIFO (resize, reopen the log). */
  ctlFifo(id: string): string {
    return join(this.bundle(id), "ctl");
  }
  /** conmon writes the exit code and, after an OOM kill, an `oom` marker here. */
  persistDir(id: string): string {
    return join(this.dir(id), "persist");
  }
  exitFile(id: string): string {
    return join(this.exitDir, id);
  }
  /** The container's overlay snapshot (its writable layer). */
  snapshotKey(id: string): string {
    return `container-${id}`;
  }
}
