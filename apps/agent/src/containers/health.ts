import { emitContainerEvent, type EventLog } from "./events.ts";
import type { ExecService } from "./exec.ts";
import type { HealthLogEntry } from "./record.ts";
import type { ContainerService } from "./service.ts";

const NS_PER_MS = 1_000_000;
const DEFAULTS = { interval: 30_000, timeout: 30_000, retries: 3, startPeriod: 0 };
const MAX_OUTPUT = 4096;
const KEEP_LOG = 5;

/**
 * Runs each running container's health check (Docker's HEALTHCHECK semantics): a probe every
 * interval, a failed or timed-out probe adds to the failing streak, `retries` failures in a row
 * make it unhealthy, a success makes it healthy; failures inside the start period do not count.
 * Status changes are recorded in the container's state (through its supervision) and emitted as
 * health_status events.
 */
export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly containers: ContainerService,
    private readonly execs: ExecService,
    private readonly events: EventLog,
  ) {}

  /** Watches start/die/destroy events, and picks up containers already running (adopted). */
  start(): void {
    this.unsubscribe = this.events.subscribe((e) => {
      if (e.Type !== "container") return;
      if (e.Action === "start") this.schedule(e.Actor.ID);
      else if (e.Action === "die" || e.Action === "destroy") this.cancel(e.Actor.ID);
    });
    for (const r of this.containers.store.all()) if (r.state.Status === "running") this.schedule(r.id);
  }

  stop(): void {
    this.unsubscribe?.();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private cancel(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  private schedule(id: string): void {
    this.cancel(id);
    const rec = this.containers.store.get(id);
    if (!rec?.healthcheck) return;
    const interval = rec.healthcheck.Interval ? rec.healthcheck.Interval / NS_PER_MS : DEFAULTS.interval;
    const t = setTimeout(() => void this.probe(id), interval);
    t.unref();
    this.timers.set(id, t);
  }

  private async probe(id: string): Promise<void> {
    this.timers.delete(id);
    const rec = this.containers.store.get(id);
    if (!rec?.healthcheck || rec.state.Status !== "running") return;
    const hc = rec.healthcheck;
    const timeout = hc.Timeout ? hc.Timeout / NS_PER_MS : DEFAULTS.timeout;
    const retries = hc.Retries ?? DEFAULTS.retries;
    const startPeriod = hc.StartPeriod ? hc.StartPeriod / NS_PER_MS : DEFAULTS.startPeriod;
    const cmd =
      hc.Test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", hc.Test.slice(1).join(" ")] : hc.Test[0] === "CMD" ? hc.Test.slice(1) : hc.Test;
    const started = new Date();
    let entry: HealthLogEntry;
    let execId: string | undefined;
    try {
      const { Id } = this.execs.create(id, { Cmd: cmd });
      execId = Id;
      const s = await this.execs.start(Id);
      let out = "";
      const take = (d: Buffer) => {
        if (out.length < MAX_OUTPUT) out = (out + d.toString("utf8")).slice(0, MAX_OUTPUT);
      };
      s.stdout.on("data", take);
      s.stderr?.on("data", take);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeout)));
      const code = await Promise.race([s.exit, timedOut]);
      clearTimeout(timer);
      if (code === "timeout") {
        s.kill();
        entry = {
          Start: started.toISOString(),
          End: new Date().toISOString(),
          ExitCode: -1,
          Output: `Health check exceeded timeout (${timeout / 1000}s)`,
        };
      } else {
        entry = { Start: started.toISOString(), End: new Date().toISOString(), ExitCode: code, Output: out };
      }
    } catch (e) {
      entry = {
        Start: started.toISOString(),
        End: new Date().toISOString(),
        ExitCode: -1,
        Output: e instanceof Error ? e.message : String(e),
      };
    } finally {
      // The result is kept in the container's health log; the exec record has nothing more to give.
      if (execId) this.execs.forget(execId);
    }
    const cur = this.containers.store.get(id);
    if (cur?.state.Status !== "running") return;
    const health = cur.state.Health ?? { Status: "starting" as const, FailingStreak: 0, Log: [] };
    const before = health.Status;
    // As Docker: a probe counts by when it started, so a slow probe begun inside the start period does not count.
    const inStartPeriod = started.getTime() - Date.parse(cur.state.StartedAt) < startPeriod;
    const log = [...health.Log, entry].slice(-KEEP_LOG);
    let next: typeof health;
    if (entry.ExitCode === 0) next = { Status: "healthy", FailingStreak: 0, Log: log };
    else if (inStartPeriod && before === "starting") next = { ...health, Log: log };
    else {
      const streak = health.FailingStreak + 1;
      next = { Status: streak >= retries ? "unhealthy" : health.Status, FailingStreak: streak, Log: log };
    }
    this.containers.supervision.recordHealth(cur, next);
    // With the container's labels, as dockerd's: compose filters events by its project label.
    if (next.Status !== before) emitContainerEvent(this.events, `health_status: ${next.Status}`, cur);
    this.schedule(id);
  }
}
