// A container's stdio: attaching to it, resizing its terminal, and reading its log.
import { readLogBatches, readLogs, type LogEntry, type ReadLogsOptions } from "../logs/index.ts";
import { CONMON_CTL, sendConmonControl } from "../runtime/index.ts";
import type { AttachHub, AttachOptions, AttachSession } from "./attach.ts";
import { ContainerError, notRunning } from "./errors.ts";
import { emitContainerEvent, type EventLog } from "./events.ts";
import type { ContainerPaths } from "./paths.ts";
import { isRunning, type ContainerRecord } from "./record.ts";
import type { ContainerStore } from "./store.ts";

export type LogOptions = Omit<ReadLogsOptions, "finished">;

export class ContainerStdio {
  constructor(private readonly o: { store: ContainerStore; paths: ContainerPaths; attachHub: AttachHub; events: EventLog }) {}

  /**
   * Attaches to the container's stdio: at once when it runs, else from its next start (so attach,
   * then start, misses nothing). stdin reaches the container only if it was created with OpenStdin.
   */
  async attach(rec: ContainerRecord, opts: AttachOptions): Promise<AttachSession> {
    if (rec.state.Status === "removing") throw new ContainerError(`container ${rec.id} is marked for removal`, "CONFLICT");
    const running = isRunning(rec);
    const session = this.o.attachHub.open(rec.id, this.o.paths.bundle(rec.id), running, Boolean(rec.config.OpenStdin), opts);
    if (running) {
      try {
        await session.attached;
      } catch (e) {
        throw new ContainerError(`cannot attach to container ${rec.id}: ${(e as Error).message}`, "FAILED");
      }
    }
    emitContainerEvent(this.o.events, "attach", rec);
    return session;
  }

  /** Resizes the terminal of a running TTY container. */
  resize(rec: ContainerRecord, rows: number, cols: number): void {
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows > 10_000 || cols > 10_000) {
      throw new ContainerError("the terminal size must be whole numbers of rows and columns between 1 and 10000", "INVALID");
    }
    if (!isRunning(rec)) throw notRunning(rec.id);
    if (!rec.config.Tty) throw new ContainerError(`container ${rec.id} has no TTY to resize`, "CONFLICT");
    if (!sendConmonControl(this.o.paths.ctlFifo(rec.id), CONMON_CTL.resize, rows, cols)) {
      throw new ContainerError(`cannot resize container ${rec.id}: its supervisor is not answering`, "FAILED");
    }
  }

  /** The container's log lines; following ends once the container is no longer running. */
  logs(rec: ContainerRecord, opts: LogOptions): AsyncGenerator<LogEntry> {
    readable(rec);
    return readLogs(this.o.paths.logPath(rec.id), { ...opts, finished: () => !isRunning(this.o.store.get(rec.id) ?? rec) });
  }

  /** The same lines in batches, each line with its cursor (for the control plane's log streams). */
  logBatches(rec: ContainerRecord, opts: LogOptions): AsyncGenerator<LogEntry[]> {
    readable(rec);
    return readLogBatches(this.o.paths.logPath(rec.id), { ...opts, finished: () => !isRunning(this.o.store.get(rec.id) ?? rec) });
  }
}

/** A container with the `none` log driver has no log to read (dockerd's 501). */
function readable(rec: ContainerRecord): void {
  if (rec.config.HostConfig.LogConfig?.Type === "none") {
    throw new ContainerError("configured logging driver does not support reading", "NOT_IMPLEMENTED");
  }
}
