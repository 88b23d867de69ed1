import { systemCpuUsage, type ContainerStats } from "./cgroup-stats.ts";

/** Samples one container, given the host's CPU time for this round; null once the container is gone. */
export type StatsSampler<T extends ContainerStats> = (id: string, systemCpu: number) => T | null;

/**
 * One clock for every streaming stats client, as Docker's stats collector: each tick reads the
 * host's CPU time once and samples each watched container once, however many clients watch it.
 * Samples a client has not taken yet are replaced by newer ones: stats are a gauge, and a slow
 * client must not hold a queue in the agent.
 */
export class StatsCollector<T extends ContainerStats = ContainerStats> {
  private readonly watchers = new Map<string, Set<(s: T | null) => void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sample: StatsSampler<T>,
    readonly intervalMs = 1000,
  ) {}

  /** Calls `fn` with each tick's sample of container `id` (null when it is gone); returns the unsubscribe. */
  watch(id: string, fn: (s: T | null) => void): () => void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(fn);
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.watchers.delete(id);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watchers.clear();
  }

  private tick(): void {
    const system = systemCpuUsage();
    for (const [id, fns] of this.watchers) {
      let s: T | null;
      try {
        s = this.sample(id, system);
      } catch {
        s = null;
      }
      for (const fn of fns) fn(s);
    }
  }
}
