"use client";
import { useEffect, useMemo, useRef, useState } from "react";
import type { StatsPoint } from "@berth/core";
import { followStream } from "../client/streams";
import { TimeSeriesChart } from "./time-series-chart";

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
  // Whole bytes, except the fractions an axis of a near-idle series ticks at (0.5 B/s).
  const digits = n >= 10 || (i === 0 && Number.isInteger(n)) ? 0 : 1;
  return `${n.toFixed(digits)} ${u[i]}`;
}

/** One or two series of the points over time, with axes and a cursor (TimeSeriesChart). */
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
  const last = points[points.length - 1];
  const times = useMemo(() => points.map((p) => p.at), [points]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: series is a literal per chart; its keys decide
  const values = useMemo(() => series.map((s) => points.map((p) => p[s.key] as number)), [points]);
  return (
    <figure className="rounded border border-slate-200 bg-white p-3" data-testid={testId} data-points={points.length}>
      <figcaption className="mb-1 flex justify-between text-sm">
        <span className="font-medium">{title}</span>
        <span className="text-slate-600" data-testid={`${testId}-now`}>
          {last ? series.map((s) => `${s.label} ${format(last[s.key] as number)}`).join(" · ") : "waiting for a sample…"}
        </span>
      </figcaption>
      <TimeSeriesChart
        label={title}
        times={times}
        values={values}
        series={series.map((s) => ({ label: s.label || title, color: s.color }))}
        format={format}
      />
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
    // Kept open across a control-plane process's loss: samples just pause while it reconnects.
    const stream = followStream<StatsSample>(
      () => ({
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
      }),
      (status, err) => setError(status === "ended" ? err : null),
    );
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
