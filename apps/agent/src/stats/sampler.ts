import { systemCpuUsage, type ContainerStats } from "./cgroup-stats.ts";

/** Samples one container, given the host's CPU time for this round; null once the container is gone. */
export type SampleFn<T extends ContainerStats> = (id: string, systemCpu: number) => T | null;

/** One round's sample of a container, and when the round was. */
export interface Sampled<T> {
  sample: T;
  at: number;
}

/**
 * The one place the agent reads containers' cgroups for stats. Each round reads the host's CPU
 * time once and every running container once; streaming clients (Docker API, the control plane's
 * live charts), the 1 Hz report to the control plane and one-shot requests all take that round's
 * samples, so a container is read once a second however many want it. Rounds go on while someone
 * watches, or for a minute after a request (the link asks every second, so they go on while linked).
 * Samples a client has not taken yet are replaced by newer ones: stats are a gauge.
 */
export class StatsSampler<T extends ContainerStats = ContainerStats> {
  private readonly watchers = new Map<string, Set<(s: T | null) => void>>();
  private readonly latest = new Map<string, Sampled<T>>();
  private timer: NodeJS.Timeout | undefined;
  private lastRound = 0;
  private wantedUntil = 0;

  constructor(
    /** The containers to read each round (the running ones). */
    private readonly running: () => string[],
    private readonly sample: SampleFn<T>,
    readonly intervalMs = 1000,
  ) {}

  /** Calls `fn` with each round's sample of container `id` (null when it is gone); returns the unsubscribe. */
  watch(id: string, fn: (s: T | null) => void): () => void {
    let set = this.watchers.get(id);
    if (!set) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(fn);
    this.ensureTimer();
    return () => {
      set.delete(fn);
      if (set.size === 0) this.watchers.delete(id);
    };
  }

  /**
   * The newest samples of every running container, taking a round first unless one is fresher
   * than `maxAgeMs`. Also keeps rounds going for a minute, so the next request finds a previous
   * sample to compute CPU shares from without waiting a second for one.
   */
  current(maxAgeMs = this.intervalMs * 0.9): Map<string, Sampled<T>> {
    this.wantedUntil = Date.now() + 60_000;
    this.ensureTimer();
    if (Date.now() - this.lastRound > maxAgeMs) this.round();
    return this.latest;
  }

  /** The last round's sample of one container, if it had one. */
  last(id: string): Sampled<T> | undefined {
    return this.latest.get(id);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watchers.clear();
    this.latest.clear();
  }

  private ensureTimer(): void {
    this.timer ??= setInterval(() => this.onTick(), this.intervalMs);
    this.timer.unref();
  }

  private onTick(): void {
    if (this.watchers.size === 0 && Date.now() > this.wantedUntil) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.latest.clear();
      return;
    }
    // A round taken moments ago on request (the link's report) serves this tick too.
    if (Date.now() - this.lastRound < this.intervalMs * 0.5) {
      this.notify();
      return;
    }
    this.round();
    this.notify();
  }

  private round(): void {
    const at = Date.now();
    const system = systemCpuUsage();
    const ids = new Set([...this.running(), ...this.watchers.keys()]);
    for (const id of this.latest.keys()) if (!ids.has(id)) this.latest.delete(id);
    for (const id of ids) {
      let s: T | null = null;
      try {
        s = this.sample(id, system);
      } catch {
        s = null; // exiting while it was read: left out of this round
      }
      if (s) this.latest.set(id, { sample: s, at });
      else this.latest.delete(id);
    }
    this.lastRound = at;
  }

  private notify(): void {
    for (const [id, fns] of this.watchers) {
      const s = this.latest.get(id)?.sample ?? null;
      for (const fn of fns) fn(s);
    }
  }
}
