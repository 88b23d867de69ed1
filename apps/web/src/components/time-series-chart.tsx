"use client";
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface TimeSeries {
  label: string;
  color: string;
  /** A step line (counts: tasks running) rather than a straight one between points (rates). */
  stepped?: boolean;
}

/**
 * A live time-series chart on uPlot: a time axis, a value axis in the series' unit, a cursor whose
 * legend gives each series' value at that moment. The chart is made once per mount; each update
 * only hands uPlot the new arrays (a redraw of one canvas), so a point a second stays cheap.
 */
export function TimeSeriesChart({
  times,
  values,
  series,
  format,
  height = 140,
  label,
}: {
  /** Milliseconds since the epoch, ascending. */
  times: readonly number[];
  /** One array per series, aligned with `times`; null is a gap. */
  values: ReadonlyArray<ReadonlyArray<number | null>>;
  series: readonly TimeSeries[];
  format(v: number): string;
  height?: number;
  /** The chart's accessible name. */
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const formatRef = useRef(format);
  formatRef.current = format;

  const data = (): uPlot.AlignedData => [times.map((t) => t / 1000), ...values.map((v) => [...v])];

  // Made once per set of series; the data effect below keeps it current.
  const seriesKey = series.map((s) => `${s.label}:${s.color}:${s.stepped ? 1 : 0}`).join("|");
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when its series (seriesKey) or height change; data goes in below
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fmt = (v: number | null) => (v === null || v === undefined ? "–" : formatRef.current(v));
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#f1f5f9" }, ticks: { stroke: "#e2e8f0" } },
        {
          stroke: "#64748b",
          grid: { stroke: "#f1f5f9" },
          ticks: { stroke: "#e2e8f0" },
          size: 70,
          values: (_u, ticks) => ticks.map((v) => fmt(v)),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          value: (_u: uPlot, v: number | null) => fmt(v),
          ...(s.stepped ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        })),
      ],
    };
    const u = new uPlot(opts, data(), el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [seriesKey, height]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: data() reads exactly times and values
  useEffect(() => {
    plot.current?.setData(data());
  }, [times, values]);

  return <div ref={box} role="img" aria-label={label} className="w-full" />;
}
