// Every change of a container's state is recorded here: starts and failed starts, pauses, exits
// (exit files, the poll, a supervisor that is gone), restart policies and their timers, removal,
// health results, the waiters of `wait`, and adoption of what was running before the agent started.
import { existsSync, readFileSync, rmSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { LogKeepers } from "../logs/index.ts";
import { isConmon } from "../runtime/index.ts";
import type { OciRuntimes } from "../runtime/index.ts";
import type { ChangeQueue } from "./change-queue.ts";
import { ContainerError } from "./errors.ts";
import { emitContainerEvent, type EventLog } from "./events.ts";
import { keepLogs } from "./launch.ts";
import type { NetworkAttachment } from "./network-attachment.ts";
import type { ContainerPaths } from "./paths.ts";
import { isRunning, ZERO_TIME, type ContainerRecord, type HealthState } from "./record.ts";
import { nextRestartDelay, shouldRestart } from "./restart-policy.ts";
import { deleteExited, unmountRootfs } from "./runtime-cleanup.ts";
import { releaseShm } from "./shared-namespaces.ts";
import type { ContainerStore } from "./store.ts";

export type WaitCondition = "not-running" | "next-exit" | "removed";
export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

interface Waiter {
  condition: WaitCondition;
  resolve: (r: WaitResult) => void;
}

export interface SupervisionOptions {
  store: ContainerStore;
  paths: ContainerPaths;
  runc: OciRuntimes;
  events: EventLog;
  /** The containers' queue of state changes: restarts by policy take their turn in it. */
  changes: ChangeQueue;
  network: NetworkAttachment;
  logKeepers: LogKeepers;
  /** Runs a container's process again (a restart by its policy). */
  launch(rec: ContainerRecord): Promise<void>;
  /** Removes a container (`--rm`, once it exited). */
  remove(id: string, opts: { force: boolean; volumes: boolean }): Promise<void>;
}

export class Supervision {
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly exiting = new Map<string, Promise<void>>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly restartDelay = new Map<string, number>();
  /** Containers whose exit is being handled by stop/remove: no restart policy, no auto-remove. */
  private readonly suppressPolicy = new Set<string>();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: SupervisionOptions) {}

  /** Starts exit monitoring and re-adopts what was running before this agent started. */
  async start(): Promise<void> {
    // conmon writes exits/<id> when a container exits; a watch reacts at once, the poll catches missed events.
    this.watcher = watch(this.o.paths.exitDir, (_event, file) => {
      if (file && this.o.store.get(file)) void this.onExitFile(file);
    });
    for (const rec of this.o.store.all()) await this.adopt(rec);
    this.poller = setInterval(() => this.pollExits(), 1000);
    this.poller.unref();
  }

  /** Stops watching and restarting; resolves once the exits being handled are recorded. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.allSettled([...this.exiting.values()]);
  }

  // ---------------------------------------------------------------- transitions

  /** A launched container runs: recorded and announced, and an exit that came first is handled. */
  started(rec: ContainerRecord, pid: number): void {
    rec.state = {
      ...rec.state,
      Status: "running",
      Pid: pid,
      ExitCode: 0,
      Error: "",
      OOMKilled: false,
      StartedAt: new Date().toISOString(),
      FinishedAt: rec.state.FinishedAt,
      ...(rec.healthcheck ? { Health: { Status: "starting" as const, FailingStreak: 0, Log: [] } } : {}),
    };
    this.o.store.save(rec);
    emitContainerEvent(this.o.events, "start", rec);
    // A short-lived process may have exited before it was marked running: its exit file is there already.
    if (existsSync(this.o.paths.exitFile(rec.id))) void this.onExitFile(rec.id);
  }

  /** A start that failed: created again if it never ran, else exited, with the exit code Docker gives it. */
  startFailed(rec: ContainerRecord, message: string): void {
    // Docker's codes for a command that cannot run: 127 not found, 126 not executable.
    const code = /not found|no such file/i.test(message) ? 127 : /permission denied/i.test(message) ? 126 : 128;
    const status = rec.state.StartedAt === ZERO_TIME ? "created" : "exited";
    rec.state = { ...rec.state, Status: status, Pid: 0, ExitCode: code, Error: message };
    this.o.store.save(rec);
  }

  paused(rec: ContainerRecord): void {
    rec.state = { ...rec.state, Status: "paused" };
    this.o.store.save(rec);
  }

  resumed(rec: ContainerRecord): void {
    rec.state = { ...rec.state, Status: "running" };
    this.o.store.save(rec);
  }

  /**
   * In memory only, as dockerd keeps it: a removal interrupted by a crash leaves the container as it
   * was (an `rm` finishes it), never a persisted "removing" that nothing would ever complete.
   */
  removing(rec: ContainerRecord): void {
    rec.state = { ...rec.state, Status: "removing" };
  }

  /** The container is gone: whoever waits for it is answered. */
  removed(rec: ContainerRecord): void {
    this.restartDelay.delete(rec.id);
    this.wake(rec.id, ["removed", "not-running", "next-exit"], rec.state.ExitCode);
  }

  /** A health check's outcome (the health monitor's one write). */
  recordHealth(rec: ContainerRecord, health: HealthState): void {
    rec.state = { ...rec.state, Health: health };
    this.o.store.save(rec);
  }

  /** Drops a pending restart by policy; a container waiting for one is left exited. */
  cancelRestart(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
    const rec = this.o.store.get(id);
    if (rec?.state.Status === "restarting") {
      rec.state = { ...rec.state, Status: "exited" };
      this.o.store.save(rec);
    }
  }

  /** The container's next exit is stop's or remove's doing: its restart policy and `--rm` stay out of it. */
  holdPolicy(id: string): void {
    this.suppressPolicy.add(id);
  }

  releasePolicy(id: string): void {
    this.suppressPolicy.delete(id);
  }

  // ---------------------------------------------------------------- waiters

  wait(rec: ContainerRecord, condition: WaitCondition = "not-running", signal?: AbortSignal): Promise<WaitResult> {
    if (condition === "not-running" && !isRunning(rec) && rec.state.Status !== "restarting") {
      return Promise.resolve({ StatusCode: rec.state.ExitCode, Error: null });
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { condition, resolve };
      this.waiters.set(rec.id, [...(this.waiters.get(rec.id) ?? []), w]);
      signal?.addEventListener("abort", () => {
        this.waiters.set(
          rec.id,
          (this.waiters.get(rec.id) ?? []).filter((x) => x !== w),
        );
        reject(new ContainerError("wait cancelled", "FAILED"));
      });
    });
  }

  private wake(id: string, conditions: WaitCondition[], code: number, error: string | null = null): void {
    const list = this.waiters.get(id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) {
      if (conditions.includes(w.condition)) w.resolve({ StatusCode: code, Error: error ? { Message: error } : null });
      else keep.push(w);
    }
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  // ---------------------------------------------------------------- exits

  private pollExits(): void {
    this.o.logKeepers.check();
    for (const rec of this.o.store.all()) {
      if (!isRunning(rec) || this.exiting.has(rec.id)) continue;
      const exitFile = this.o.paths.exitFile(rec.id);
      if (existsSync(exitFile)) void this.onExitFile(rec.id);
      // A supervisor killed under us (OOM killer, an operator) leaves no exit file: record the loss.
      else if (rec.conmonPid > 0 && !isConmon(rec.conmonPid) && !existsSync(exitFile)) void this.onSupervisorLost(rec.id);
    }
  }

  private onSupervisorLost(id: string): Promise<void> {
    const running = this.exiting.get(id);
    if (running) return running;
    const rec = this.o.store.get(id);
    if (!rec) return Promise.resolve();
    const p = this.reapOrphan(rec).finally(() => this.exiting.delete(id));
    this.exiting.set(id, p);
    return p;
  }

  /** Handles a container's exit once, however many times it is noticed. */
  private onExitFile(id: string): Promise<void> {
    const running = this.exiting.get(id);
    if (running) return running;
    const p = this.handleExit(id).finally(() => this.exiting.delete(id));
    this.exiting.set(id, p);
    return p;
  }

  private async handleExit(id: string, known?: { code: number; error?: string }): Promise<void> {
    const rec = this.o.store.get(id);
    if (!rec || !isRunning(rec)) return;
    const exitFile = this.o.paths.exitFile(id);
    let code = known?.code;
    if (code === undefined) {
      const text = existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : "";
      // conmon writes the file once it has the status; an empty file is one still being written.
      if (!/^-?\d+$/.test(text)) return;
      code = Number(text);
    }
    const oom = existsSync(join(this.o.paths.persistDir(id), "oom"));
    // Its addresses and ports go first, beside the cleanup: a dead task leaves every host's
    // balancing as soon as it can (an overlay endpoint's release tells the control plane).
    const left = this.o.network.leave(rec);
    await this.o.logKeepers.finish(this.o.paths.logPath(id));
    // Cleanup of a container that is gone; none of it depends on the rest.
    await Promise.all([
      deleteExited(this.o.runc.for(id), id),
      unmountRootfs(this.o.paths.rootfs(id)).catch(() => undefined),
      releaseShm(this.o.paths, rec),
      left,
    ]);
    // `--rm`: the removal below persists the record; until then the exit file stays, so a crash in
    // between finds it at start-up and removes the container then. One fsync'd write fewer on `docker run --rm`.
    const autoRemove = rec.config.HostConfig.AutoRemove && !this.suppressPolicy.has(id) && !this.closed;
    if (!autoRemove) rmSync(exitFile, { force: true });
    const startedAt = Date.parse(rec.state.StartedAt);
    const finishedAt = new Date().toISOString();
    const error = known?.error ?? "";
    rec.state = { ...rec.state, Status: "exited", Pid: 0, ExitCode: code, OOMKilled: oom, Error: error, FinishedAt: finishedAt };
    rec.conmonPid = 0;
    if (!autoRemove) this.o.store.save(rec);
    if (oom) emitContainerEvent(this.o.events, "oom", rec);
    emitContainerEvent(this.o.events, "die", rec, { exitCode: String(code) });
    this.wake(id, ["not-running", "next-exit"], code);

    if (autoRemove) {
      // `--rm` takes the container's anonymous volumes with it, as Docker does.
      await this.o.remove(id, { force: true, volumes: true }).catch(() => {
        // Left as an exited container, as Docker leaves one whose removal failed.
        if (!this.o.store.get(id)) return;
        this.o.store.save(rec);
        rmSync(exitFile, { force: true });
      });
      return;
    }
    if (this.suppressPolicy.has(id) || this.closed) return;
    if (shouldRestart(rec.config.HostConfig, code, rec.restartCount, rec.manuallyStopped)) this.scheduleRestart(rec, startedAt);
  }

  /** A restart by policy after Docker's backoff, as a state change of its own (queued behind the others). */
  private scheduleRestart(rec: ContainerRecord, startedAt: number): void {
    const { id } = rec;
    const delay = nextRestartDelay(this.restartDelay.get(id) ?? 0, Date.now() - startedAt);
    this.restartDelay.set(id, delay);
    const pending = this.restartTimers.get(id);
    if (pending) clearTimeout(pending);
    rec.state = { ...rec.state, Status: "restarting" };
    this.o.store.save(rec);
    const timer = setTimeout(() => {
      this.restartTimers.delete(id);
      void this.o.changes.run(id, async () => {
        const cur = this.o.store.get(id);
        if (cur?.state.Status !== "restarting" || this.closed) return;
        cur.restartCount++;
        await this.o.launch(cur).catch(() => {
          // A failed restart is a failed run: its state was recorded by launch; try again by the policy.
          const again = this.o.store.get(id);
          if (again && shouldRestart(again.config.HostConfig, again.state.ExitCode, again.restartCount, again.manuallyStopped)) {
            again.state = { ...again.state, Status: "running" };
            void this.handleExit(id, { code: again.state.ExitCode, error: again.state.Error });
          }
        });
      });
    }, delay);
    this.restartTimers.set(id, timer);
  }

  // ---------------------------------------------------------------- adoption

  /** Re-adopts a container found in the store at start-up. */
  private async adopt(rec: ContainerRecord): Promise<void> {
    if (!isRunning(rec) && rec.state.Status !== "restarting") return;
    if (existsSync(this.o.paths.exitFile(rec.id))) {
      await this.onExitFile(rec.id);
      return;
    }
    if (rec.state.Status !== "restarting" && isConmon(rec.conmonPid)) {
      // Still supervised: keep it. Its state may have changed (paused/resumed by hand) while we were away.
      const st = await this.o.runc
        .for(rec.id)
        .state(rec.id)
        .catch(() => null);
      if (st?.status === "paused" && rec.state.Status !== "paused") this.paused(rec);
      keepLogs(this.o.logKeepers, this.o.paths, rec);
      await this.o.network.holdPorts(rec);
      return;
    }
    await this.onSupervisorLost(rec.id);
  }

  /**
   * The supervisor is gone (host restart, or conmon killed): whatever is left of the container is
   * stopped, and the exit is recorded as Docker does after an unclean shutdown (255).
   */
  private async reapOrphan(rec: ContainerRecord): Promise<void> {
    // conmon may have written the exit file just before it died.
    if (existsSync(this.o.paths.exitFile(rec.id))) return this.handleExit(rec.id);
    const st = await this.o.runc
      .for(rec.id)
      .state(rec.id)
      .catch(() => null);
    if (st && st.status !== "stopped") {
      await this.o.runc
        .for(rec.id)
        .kill(rec.id, "SIGKILL", true)
        .catch(() => undefined);
      for (
        let i = 0;
        i < 50 &&
        (
          await this.o.runc
            .for(rec.id)
            .state(rec.id)
            .catch(() => null)
        )?.status === "running";
        i++
      )
        await sleep(100);
    }
    const wasRestarting = rec.state.Status === "restarting";
    rec.state = { ...rec.state, Status: "running" };
    const lost = { code: 255, error: "the container's supervisor (conmon) was gone, so the container was stopped" };
    await this.handleExit(rec.id, wasRestarting ? { code: rec.state.ExitCode, error: rec.state.Error } : lost);
  }
}
