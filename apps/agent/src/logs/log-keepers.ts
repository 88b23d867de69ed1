import { setTimeout as sleep } from "node:timers/promises";
import type { Worker } from "node:worker_threads";
import { startAgentWorker, WORKER_ROLES } from "../worker-threads.ts";
import type { KeeperReply, KeeperRequest } from "./keeper-worker.ts";
import type { LogRotation } from "./rotation.ts";

/** The main thread's handle on the log-keeper worker: which logs to rotate. */
export class LogKeepers {
  private worker: Worker | undefined;
  private listening: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly pending = new Map<number, () => void>();
  private readonly kept = new Map<string, { ctlFifo: string; rotation: LogRotation }>();

  /** Starts rotating a running container's log; `ctlFifo` is its conmon's control FIFO. */
  keep(path: string, ctlFifo: string, rotation: LogRotation): void {
    if (this.kept.has(path)) return;
    this.kept.set(path, { ctlFifo, rotation });
    this.send({ op: "keep", path, ctlFifo, rotation });
  }

  /** The container exited: files its last rotation and stops watching. */
  finish(path: string): Promise<void> {
    if (!this.kept.delete(path)) return Promise.resolve();
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.send({ op: "finish", path, id });
    });
  }

  /**
   * Starts the worker if it is not running, and resolves once it listens, so a burst of output
   * right at a container's start is rotated too. Bounded: a slow worker never holds up a start.
   */
  async ready(): Promise<void> {
    this.worker ??= this.startWorker();
    await Promise.race([this.listening, sleep(3000, undefined, { ref: false })]);
  }

  /** A backstop for rotations a watch did not report. */
  check(): void {
    if (this.kept.size) this.send({ op: "check" });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.kept.clear();
    for (const resolve of this.pending.values()) resolve();
    this.pending.clear();
    await w?.terminate();
  }

  private send(msg: KeeperRequest): void {
    this.worker ??= this.startWorker();
    this.worker.postMessage(msg);
  }

  private startWorker(): Worker {
    const w = startAgentWorker(WORKER_ROLES.logKeeper, () => new URL("./keeper-worker-entry.ts", import.meta.url));
    w.unref();
    this.listening = new Promise((resolve) => this.pending.set(0, resolve));
    w.on("message", (reply: KeeperReply) => {
      this.pending.get(reply.id)?.();
      this.pending.delete(reply.id);
    });
    // A worker that died takes its watches with it: start a new one and hand it every kept log.
    const restart = () => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const resolve of this.pending.values()) resolve();
      this.pending.clear();
      for (const [path, k] of this.kept) this.send({ op: "keep", path, ...k });
    };
    w.on("error", restart);
    w.on("exit", restart);
    return w;
  }
}
