import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { startAgentWorker, WORKER_ROLES } from "../worker-threads.ts";
import { ImageError } from "./errors.ts";
import type { ExtractReply } from "./extract-worker.ts";
import type { ExtractJob, LayerExtractor } from "./layer-extract.ts";

function startWorker(): Worker {
  return startAgentWorker(WORKER_ROLES.extract, () => new URL("./extract-worker-entry.ts", import.meta.url));
}

/** Errors of a refused or broken layer keep their message; they are the image's fault, not ours. */
const LAYER_ERRORS = new Set(["LayerSecurityError", "LayerFormatError", "UnsupportedEntryError", "ImageError"]);

function rebuild(reply: Extract<ExtractReply, { ok: false }>): Error {
  if (LAYER_ERRORS.has(reply.name)) return new ImageError(reply.message, "INVALID");
  const e = new Error(reply.message);
  e.name = reply.name;
  return e;
}

interface Task {
  job: ExtractJob;
  resolve: (r: { diffId: string }) => void;
  reject: (e: Error) => void;
}

/**
 * Layers extracted on worker threads, so gunzip, hashing and tar parsing of several layers use
 * several cores while the main thread keeps serving the link and the Docker API. Workers start
 * on first use and are unref'd while idle, so they never keep the process alive; a worker idle
 * for a while ends, so an agent between pulls does not hold the workers' heaps.
 */
export class WorkerExtractor implements LayerExtractor {
  private readonly workers = new Set<Worker>();
  private idle: Worker[] = [];
  private readonly running = new Map<Worker, Task & { id: number }>();
  private readonly queue: Task[] = [];
  private seq = 0;
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();

  constructor(
    private readonly size = Math.max(1, Math.min(4, availableParallelism())),
    private readonly idleMs = 10_000,
  ) {}

  extract(job: ExtractJob): Promise<{ diffId: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (w) {
        clearTimeout(this.idleTimers.get(w));
        this.idleTimers.delete(w);
      } else {
        if (this.workers.size >= this.size) return;
        w = this.spawn();
      }
      const task = this.queue.shift()!;
      const id = ++this.seq;
      this.running.set(w, { ...task, id });
      w.ref();
      w.postMessage({ id, job: task.job });
    }
  }

  private spawn(): Worker {
    const w = startWorker();
    this.workers.add(w);
    w.on("message", (reply: ExtractReply) => {
      const task = this.running.get(w);
      if (!task || task.id !== reply.id) return;
      this.running.delete(w);
      w.unref();
      this.idle.push(w);
      const timer = setTimeout(() => {
        this.idleTimers.delete(w);
        if (!this.idle.includes(w)) return;
        this.idle = this.idle.filter((x) => x !== w);
        this.workers.delete(w);
        void w.terminate();
      }, this.idleMs);
      timer.unref();
      this.idleTimers.set(w, timer);
      if (reply.ok) task.resolve({ diffId: reply.diffId });
      else task.reject(rebuild(reply));
      this.pump();
    });
    const gone = (err: Error) => {
      if (!this.workers.delete(w)) return;
      this.idle = this.idle.filter((x) => x !== w);
      const task = this.running.get(w);
      this.running.delete(w);
      task?.reject(err);
      this.pump();
    };
    w.on("error", (e) => gone(e));
    w.on("exit", (code) => gone(new Error(`layer extraction worker exited (code ${code})`)));
    return w;
  }

  async close(): Promise<void> {
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    const all = [...this.workers];
    await Promise.all(all.map((w) => w.terminate()));
  }
}

let shared: WorkerExtractor | undefined;

/** The process's one extraction pool: every runtime in a process shares the cores, and warm workers. */
export function sharedExtractor(): WorkerExtractor {
  shared ??= new WorkerExtractor();
  return shared;
}
