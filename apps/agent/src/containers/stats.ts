// Containers' stats in Docker's shape, read from their cgroups through the one shared sampler.
import type { StatsReport } from "@berth/protocol";
import { readContainerStats, systemCpuUsage, type ContainerStats } from "../stats/index.ts";
import { StatsSampler, type Sampled } from "../stats/index.ts";
import { containerCounters } from "../stats/index.ts";
import { isRunning, type ContainerRecord } from "./record.ts";
import type { ContainerStore } from "./store.ts";

/** A stats sample of one container, named as Docker names it. */
export type NamedStats = ContainerStats & { id: string; name: string };

export class ContainerStatsReader {
  /** The one reader of containers' stats: streams, the control plane's report and one-shot requests share its rounds. */
  private readonly sampler = new StatsSampler<NamedStats>(
    () =>
      this.store
        .all()
        .filter(isRunning)
        .map((r) => r.id),
    (id, system) => this.sampleOf(id, system),
  );

  constructor(
    private readonly store: ContainerStore,
    /** cgroupfs parent of every container of this agent. */
    private readonly cgroupParent: string,
  ) {}

  close(): void {
    this.sampler.close();
  }

  /** One stats sample in Docker's shape; pass the previous sample to get CPU deltas (precpu_stats). */
  read(rec: ContainerRecord, previous?: ContainerStats): NamedStats {
    const s = readContainerStats(`${this.cgroupParent}/${rec.id}`, isRunning(rec) ? rec.state.Pid : 0, previous);
    return { ...s, id: rec.id, name: `/${rec.name}` };
  }

  /**
   * Docker's streaming stats: a sample at once, then one each collector tick (1 s), each with the
   * previous one's CPU figures (precpu_stats) so a reader can compute the CPU share. A stopped
   * container yields its idle figures; the stream ends when the container is removed or `signal` aborts.
   */
  async *stream(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<NamedStats> {
    let pending: NamedStats | null | undefined;
    let wake: (() => void) | undefined;
    const stop = this.sampler.watch(id, (s) => {
      pending = s;
      wake?.();
    });
    const onAbort = () => wake?.();
    opts.signal?.addEventListener("abort", onAbort);
    try {
      let next = this.sampleOf(id, systemCpuUsage());
      while (next && !opts.signal?.aborted) {
        yield next;
        const previous: ContainerStats = next;
        if (pending === undefined) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const raw = pending;
        pending = undefined;
        next = raw ? { ...raw, preread: previous.read, precpu_stats: previous.cpu_stats } : null;
      }
    } finally {
      stop();
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Counters of every running container for the control plane's stats history, from the sampler's round, and the round's time. */
  counters(): { at: number; containers: StatsReport["containers"] } {
    const round = this.sampler.current();
    let at = Date.now();
    const out: StatsReport["containers"] = [];
    for (const [id, { sample, at: when }] of round) {
      // A round reused from moments ago may name a container that has gone since.
      const rec = this.store.get(id);
      if (!rec || !isRunning(rec)) continue;
      out.push(containerCounters(id, sample));
      at = when;
    }
    return { at, containers: out };
  }

  /** The sampler's last sample of a container (a previous sample for CPU shares), if recent. */
  last(id: string, maxAgeMs: number): Sampled<NamedStats> | undefined {
    const last = this.sampler.last(id);
    return last && Date.now() - last.at <= maxAgeMs ? last : undefined;
  }

  /**
   * A stats request: takes a round unless one is under half a second old, and keeps rounds going
   * for a minute (a request for stats is likely to be followed by more).
   */
  want(): void {
    this.sampler.current(500);
  }

  /** One sample of a container for the collector; null once it is gone. */
  private sampleOf(id: string, systemCpu: number): NamedStats | null {
    const rec = this.store.get(id);
    if (!rec) return null;
    const s = readContainerStats(`${this.cgroupParent}/${id}`, isRunning(rec) ? rec.state.Pid : 0, undefined, systemCpu);
    return { ...s, id, name: `/${rec.name}` };
  }
}
