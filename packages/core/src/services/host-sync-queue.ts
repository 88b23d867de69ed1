/**
 * Host syncs (list a host's containers, match them with the task records) run a few at a time and
 * coalesce per host: a fleet-wide resync, or a thousand agents re-linking after a restart, would
 * otherwise take every database connection at once and stall the API behind them.
 */
export class HostSyncQueue {
  private active = 0;
  private readonly queued = new Map<string, { fn: () => Promise<void>; settle: (p: Promise<void>) => void; done: Promise<void> }>();
  private readonly lastSynced = new Map<string, number>();

  constructor(private readonly concurrency: number) {}

  /** Syncs a host soon. A sync queued and not yet started is joined rather than repeated. */
  run(hostId: string, fn: () => Promise<void>): Promise<void> {
    const queued = this.queued.get(hostId);
    if (queued) return queued.done;
    let settle!: (p: Promise<void>) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (p) => p.then(resolve, reject);
    });
    this.queued.set(hostId, { fn, settle, done });
    this.pump();
    return done;
  }

  /**
   * The hosts a periodic resync should look at now: a small fleet every time, a large one in
   * slices, so each host is still seen at least every `slices` resyncs.
   */
  due(hostIds: string[], slices: number, smallFleet: number): string[] {
    const known = new Set(hostIds);
    for (const id of this.lastSynced.keys()) if (!known.has(id)) this.lastSynced.delete(id);
    if (hostIds.length <= smallFleet) return hostIds;
    const n = Math.ceil(hostIds.length / slices);
    return [...hostIds].sort((a, b) => (this.lastSynced.get(a) ?? 0) - (this.lastSynced.get(b) ?? 0)).slice(0, n);
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queued.size > 0) {
      const [hostId, job] = this.queued.entries().next().value!;
      this.queued.delete(hostId);
      this.active++;
      this.lastSynced.set(hostId, Date.now());
      const p = job.fn().finally(() => {
        this.active--;
        this.pump();
      });
      job.settle(p);
    }
  }
}
