"use client";
import { useEffect, useRef, useState } from "react";
import type { StatsPoint } from "@berth/core";
import { openStream } from "../client/streams";

/** The fields of a Docker stats sample the charts use. */
export interface StatsSample {
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
}

/** One point of the charts: rates and gauges at a time (ms), as the control plane stores them. */
export type { StatsPoint } from "@berth/core";

const KEEP_MS = 60 * 60 * 1000;

function totals(s: StatsSample) {
  const nets = Object.values(s.networks ?? {});
  const io = s.blkio_stats?.io_service_bytes_recursive ?? [];
  const sumOp = (op: string) => io.filter((e) => e.op.toLowerCase() === op).reduce((a, e) => a + e.value, 0);
  return {
    t: Date.parse(s.read),
    cpu: s.cpu_stats.cpu_usage.total_usage,
    system: s.cpu_stats.system_cpu_usage ?? 0,
    cpus: s.cpu_stats.online_cpus ?? 1,
    rx: nets.reduce((a, n) => a + n.rx_bytes, 0),
    tx: nets.reduce((a, n) => a + n.tx_bytes, 0),
    read: sumOp("read"),
    write: sumOp("write"),
    // As the docker CLI: the page cache that can be dropped is not counted as used.
    mem: (s.memory_stats.usage ?? 0) - (s.memory_stats.stats?.inactive_file ?? s.memory_stats.stats?.total_inactive_file ?? 0),
    limit: s.memory_stats.limit ?? 0,
  };
}

/** A point from two consecutive samples (CPU and I/O are rates between them). */
export function pointOf(prev: StatsSample, cur: StatsSample): StatsPoint {
  const a = totals(prev);
  const b = totals(cur);
  const dt = Math.max((b.t - a.t) / 1000, 0.001);
  const dsys = b.system - a.system;
  return {
    at: b.t,
    cpuPercent: dsys > 0 ? ((b.cpu - a.cpu) / dsys) * b.cpus * 100 : 0,
    memBytes: Math.max(b.mem, 0),
    memLimit: b.limit,
    rxPerSec: Math.max(b.rx - a.rx, 0) / dt,
    txPerSec: Math.max(b.tx - a.tx, 0) / dt,
    readPerSec: Math.max(b.read - a.read, 0) / dt,
    writePerSec: Math.max(b.write - a.write, 0) / dt,
  };
}

export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${u[i]}`;
}

/** A small line chart: one or two series over the window, newest at the right. */
export function Chart({
  title,
  points,
  series,
  format,
  testId,
}: {
  title: string;
  points: StatsPoint[];
  series: Array<{ key: keyof StatsPoint; color: string; label: string }>;
  format(v: number): string;
  testId: string;
}) {
  const w = 480;
  const h = 120;
  const now = points.length ? points[points.length - 1]!.at : Date.now();
  const from = now - Math.min(KEEP_MS, Math.max(60_000, now - (points[0]?.at ?? now)));
  const max = Math.max(1e-9, ...points.flatMap((p) => series.map((s) => p[s.key] as number)));
  const x = (t: number) => ((t - from) / Math.max(now - from, 1)) * w;
  const y = (v: number) => h - (v / max) * (h - 4);
  const last = points[points.length - 1];
  return (
    <figure className="rounded border border-slate-200 bg-white p-3" data-testid={testId} data-points={points.length}>
      <figcaption className="mb-1 flex justify-between text-sm">
        <span className="font-medium">{title}</span>
        <span className="text-slate-600">
          {last ? series.map((s) => `${s.label} ${format(last[s.key] as number)}`).join(" · ") : "waiting for a sample…"}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} className="h-32 w-full" preserveAspectRatio="none" role="img" aria-label={title}>
        {series.map((s) => (
          <polyline
            key={s.key}
            fill="none"
            stroke={s.color}
            strokeWidth="1.5"
            vectorEffect="non-scaling-stroke"
            points={points.map((p) => `${x(p.at).toFixed(1)},${y(p[s.key] as number).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <div className="text-right text-xs text-slate-400">max {format(max)}</div>
    </figure>
  );
}

/**
 * Live CPU, memory, network and block I/O of a container: history first (stored at 10 s
 * resolution for an hour), then a sample a second from the stats stream.
 */
export function StatsCharts({ hostId, containerId, history = [] }: { hostId: string; containerId: string; history?: StatsPoint[] }) {
  const [points, setPoints] = useState<StatsPoint[]>(history);
  const prev = useRef<StatsSample | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setPoints((p) => (p.length || history.length === 0 ? p : history));
  }, [history]);

  useEffect(() => {
    prev.current = null;
    const stream = openStream<StatsSample>({
      kind: "stats",
      hostId,
      window: 2,
      params: { id: containerId },
      onData: (s) => {
        if (prev.current) {
          const p = pointOf(prev.current, s);
          setPoints((ps) => [...ps.filter((x) => x.at > p.at - KEEP_MS && x.at < p.at), p]);
        }
        prev.current = s;
      },
      onEnd: (err) => err && setError(err.message),
    });
    return () => stream.close();
  }, [hostId, containerId]);

  return (
    <div className="space-y-3">
      {error && (
        <div role="alert" className="rounded border border-amber-200 bg-amber-50 p-2 text-sm text-amber-900">
          {error}
        </div>
      )}
      <div className="grid gap-3 md:grid-cols-2">
        <Chart
          title="CPU"
          testId="chart-cpu"
          points={points}
          series={[{ key: "cpuPercent", color: "#4f46e5", label: "" }]}
          format={(v) => `${v.toFixed(1)} %`}
        />
        <Chart
          title="Memory"
          testId="chart-memory"
          points={points}
          series={[{ key: "memBytes", color: "#059669", label: "" }]}
          format={bytes}
        />
        <Chart
          title="Network"
          testId="chart-network"
          points={points}
          series={[
            { key: "rxPerSec", color: "#0284c7", label: "rx" },
            { key: "txPerSec", color: "#ea580c", label: "tx" },
          ]}
          format={(v) => `${bytes(v)}/s`}
        />
        <Chart
          title="Block I/O"
          testId="chart-blkio"
          points={points}
          series={[
            { key: "readPerSec", color: "#7c3aed", label: "read" },
            { key: "writePerSec", color: "#dc2626", label: "write" },
          ]}
          format={(v) => `${bytes(v)}/s`}
        />
      </div>
    </div>
  );
}

/** A host's CPU, memory, network and disks: the stored hour plus its newest point, refreshed every second. */
export function HostStatsCharts({ points }: { points: StatsPoint[] }) {
  return (
    <div className="grid gap-3 md:grid-cols-2">
      <Chart
        title="Host CPU"
        testId="host-chart-cpu"
        points={points}
        series={[{ key: "cpuPercent", color: "#4f46e5", label: "" }]}
        format={(v) => `${v.toFixed(1)} %`}
      />
      <Chart
        title="Host memory"
        testId="host-chart-memory"
        points={points}
        series={[{ key: "memBytes", color: "#059669", label: "" }]}
        format={bytes}
      />
      <Chart
        title="Host network"
        testId="host-chart-network"
        points={points}
        series={[
          { key: "rxPerSec", color: "#0284c7", label: "rx" },
          { key: "txPerSec", color: "#ea580c", label: "tx" },
        ]}
        format={(v) => `${bytes(v)}/s`}
      />
      <Chart
        title="Host disks"
        testId="host-chart-disks"
        points={points}
        series={[
          { key: "readPerSec", color: "#7c3aed", label: "read" },
          { key: "writePerSec", color: "#dc2626", label: "write" },
        ]}
        format={(v) => `${bytes(v)}/s`}
      />
    </div>
  );
}
