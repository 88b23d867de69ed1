import type { Db } from "@berth/db";
import type { StatsReport } from "@berth/protocol";
import type { Logger } from "./logger.ts";
import { failureLog, guardedJob } from "./failure-log.ts";

/*
 * Stats history. Agents report cumulative counters every second; consecutive reports give rates
 * (CPU %, bytes/s) for the interval between them. Intervals are summed into 10-second buckets
 * per host and per container, written to Postgres in one insert per flush, and kept an hour.
 * The newest point of each series is also kept in memory for live views.
 */

export const STATS_BUCKET_MS = 10_000;
export const STATS_RETENTION_MS = 60 * 60 * 1000;

/** One point of a series: rates over an interval ending at `at`, memory as last seen. */
export interface StatsPoint {
  at: number;
  cpuPercent: number;
  memBytes: number;
  memLimit: number;
  rxPerSec: number;
  txPerSec: number;
  readPerSec: number;
  writePerSec: number;
}

interface Counters {
  at: number;
  cpu: number;
  /** CPU of all the host's cores over the interval, for a container's share; jiffies for the host. */
  cpuTotal: number;
  mem: number;
  limit: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
}

interface Bucket {
  hostId: string;
  containerId: string;
  seconds: number;
  cpuPercentSeconds: number;
  mem: number;
  limit: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
  end: number;
}

/** How far ahead of the control plane's clock a report's time may be (clocks drift; a minute is plenty). */
const MAX_CLOCK_AHEAD_MS = 60_000;

export class StatsIngest {
  private readonly last = new Map<string, Counters>();
  private readonly latest = new Map<string, StatsPoint>();
  private buckets = new Map<string, Bucket>();
  private timers: NodeJS.Timeout[] = [];
  private readonly refused: ReturnType<typeof failureLog>;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly opts: {
      bucketMs?: number;
      retentionMs?: number;
      /** Whether the host reported this container (its inventory); others are refused. */
      knows?: (hostId: string, containerId: string) => boolean;
      /** Whether this process runs the retention (one process does, under its lock); every process when absent. */
      leads?: () => boolean;
    } = {},
  ) {
    this.refused = failureLog(log, "stats ingest");
  }

  start(): void {
    const guard = (what: string, fn: () => Promise<unknown>) => guardedJob(this.log, what, fn);
    this.timers.push(
      setInterval(
        guard("stats flush", () => this.flush()),
        this.opts.bucketMs ?? STATS_BUCKET_MS,
      ),
    );
    this.timers.push(
      setInterval(
        guard("stats retention", async () => {
          if (this.opts.leads?.() !== false) await this.prune();
        }),
        60_000,
      ),
    );
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flush().catch(() => undefined);
  }

  /** Takes one frame of a host's report. */
  ingest(hostId: string, r: StatsReport): void {
    // A clock far ahead (or a forged time) would poison the series' rates and outlive retention.
    if (r.at > Date.now() + MAX_CLOCK_AHEAD_MS) {
      this.refused.failed(new Error(`stats report from the future (${new Date(r.at).toISOString()}) refused`));
      return;
    }
    // The host's series: busy share of all jiffies.
    const h = r.host;
    this.add(
      hostId,
      "",
      {
        at: r.at,
        cpu: h.cpuBusy,
        cpuTotal: h.cpuTotal,
        mem: h.memUsed,
        limit: h.memTotal,
        rx: h.netRx ?? 0,
        tx: h.netTx ?? 0,
        read: h.diskRead ?? 0,
        write: h.diskWrite ?? 0,
      },
      (a, b) => (b.cpuTotal > a.cpuTotal ? ((b.cpu - a.cpu) / (b.cpuTotal - a.cpuTotal)) * 100 : 0),
    );
    for (const [id, cpu, mem, limit, rx, tx, read, write] of r.containers) {
      // Only containers the host reported: made-up IDs would each start a series in memory.
      if (this.opts.knows && !this.opts.knows(hostId, id)) continue;
      // As docker stats: CPU ns over wall time, so one busy core is 100 %.
      this.add(
        hostId,
        id,
        { at: r.at, cpu, cpuTotal: 0, mem, limit: limit || r.host.memTotal, rx, tx, read, write },
        (a, b) => ((b.cpu - a.cpu) / ((b.at - a.at) * 1e6)) * 100,
      );
    }
  }

  private add(hostId: string, containerId: string, c: Counters, cpuPercent: (a: Counters, b: Counters) => number): void {
    const key = `${hostId}/${containerId}`;
    const prev = this.last.get(key);
    this.last.set(key, c);
    // A first report, a duplicate, or counters that went back (a restarted container) start over.
    if (!prev || c.at <= prev.at || c.cpu < prev.cpu) return;
    const seconds = (c.at - prev.at) / 1000;
    const rate = (a: number, b: number) => Math.max(b - a, 0) / seconds;
    const point: StatsPoint = {
      at: c.at,
      cpuPercent: Math.max(cpuPercent(prev, c), 0),
      memBytes: c.mem,
      memLimit: c.limit,
      rxPerSec: rate(prev.rx, c.rx),
      txPerSec: rate(prev.tx, c.tx),
      readPerSec: rate(prev.read, c.read),
      writePerSec: rate(prev.write, c.write),
    };
    this.latest.set(key, point);
    let b = this.buckets.get(key);
    if (!b) {
      b = { hostId, containerId, seconds: 0, cpuPercentSeconds: 0, mem: 0, limit: 0, rx: 0, tx: 0, read: 0, write: 0, end: 0 };
      this.buckets.set(key, b);
    }
    b.seconds += seconds;
    b.cpuPercentSeconds += point.cpuPercent * seconds;
    b.rx += point.rxPerSec * seconds;
    b.tx += point.txPerSec * seconds;
    b.read += point.readPerSec * seconds;
    b.write += point.writePerSec * seconds;
    b.mem = c.mem;
    b.limit = c.limit;
    b.end = c.at;
  }

  /** The newest point of a host ("" containerId) or container series, if it reported lately. */
  latestPoint(hostId: string, containerId = ""): StatsPoint | null {
    const p = this.latest.get(`${hostId}/${containerId}`);
    return p && Date.now() - p.at < 15_000 ? p : null;
  }

  /** Writes the buckets gathered since the last flush, one row per series. */
  async flush(): Promise<number> {
    const buckets = [...this.buckets.values()].filter((b) => b.seconds > 0);
    this.buckets = new Map();
    // Series that stopped reporting (removed containers, hosts gone) are forgotten.
    const stale = Date.now() - 5 * 60_000;
    for (const [k, c] of this.last) {
      if (c.at < stale) {
        this.last.delete(k);
        this.latest.delete(k);
      }
    }
    if (buckets.length === 0) return 0;
    const rows = buckets.map((b) => ({
      hostId: b.hostId,
      containerId: b.containerId,
      at: new Date(b.end),
      cpuPercent: b.cpuPercentSeconds / b.seconds,
      memBytes: BigInt(Math.round(b.mem)),
      memLimit: BigInt(Math.round(b.limit)),
      rxPerSec: b.rx / b.seconds,
      txPerSec: b.tx / b.seconds,
      readPerSec: b.read / b.seconds,
      writePerSec: b.write / b.seconds,
    }));
    // A host removed meanwhile fails its rows' foreign key; the others still go in.
    const hosts = new Set(
      (await this.db.host.findMany({ where: { id: { in: [...new Set(rows.map((r) => r.hostId))] } }, select: { id: true } })).map(
        (h) => h.id,
      ),
    );
    const kept = rows.filter((r) => hosts.has(r.hostId));
    for (let i = 0; i < kept.length; i += 5000) await this.db.statSample.createMany({ data: kept.slice(i, i + 5000) });
    return kept.length;
  }

  /** Deletes history older than the retention. */
  async prune(now = Date.now()): Promise<number> {
    const r = await this.db.statSample.deleteMany({ where: { at: { lt: new Date(now - (this.opts.retentionMs ?? STATS_RETENTION_MS)) } } });
    return r.count;
  }
}

/** A series' stored history, oldest first. */
export async function statsHistory(db: Db, hostId: string, containerId: string, sinceMs = STATS_RETENTION_MS): Promise<StatsPoint[]> {
  const rows = await db.statSample.findMany({
    where: { hostId, containerId, at: { gte: new Date(Date.now() - sinceMs) } },
    orderBy: { at: "asc" },
    take: 1000,
  });
  return rows.map((r) => ({
    at: r.at.getTime(),
    cpuPercent: r.cpuPercent,
    memBytes: Number(r.memBytes),
    memLimit: Number(r.memLimit),
    rxPerSec: r.rxPerSec,
    txPerSec: r.txPerSec,
    readPerSec: r.readPerSec,
    writePerSec: r.writePerSec,
  }));
}
