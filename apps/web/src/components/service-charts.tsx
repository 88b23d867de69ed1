"use client";
import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Card } from "./ui";
import { TimeSeriesChart } from "./time-series-chart";

/** How often the charts ask for the newest point (the stored samples are 10 s apart). */
const REFRESH_MS = 2_000;

/** A service over the last hour: tasks running against desired, and restarts per 10 s. */
export function ServiceCharts({ id }: { id: string }) {
  const trpc = useTRPC();
  const history = useQuery(trpc.services.history.queryOptions({ id }, { refetchInterval: REFRESH_MS }));
  const points = history.data ?? [];
  const times = useMemo(() => points.map((p) => p.at), [points]);
  const tasks = useMemo(() => [points.map((p) => p.running), points.map((p) => p.desired)], [points]);
  const restarts = useMemo(() => [points.map((p) => p.restarts)], [points]);
  const last = points[points.length - 1];
  return (
    <Card title="Over the last hour">
      <div className="grid gap-3 md:grid-cols-2">
        <figure data-testid="service-chart-tasks" data-points={points.length}>
          <figcaption className="mb-1 flex justify-between text-sm">
            <span className="font-medium">Tasks</span>
            <span className="text-slate-600" data-testid="service-chart-tasks-now">
              {last ? `${last.running} running of ${last.desired}` : "…"}
            </span>
          </figcaption>
          <TimeSeriesChart
            label="Tasks running and desired"
            times={times}
            values={tasks}
            series={[
              { label: "running", color: "#059669", stepped: true },
              { label: "desired", color: "#94a3b8", stepped: true },
            ]}
            format={(v) => String(Math.round(v))}
          />
        </figure>
        <figure data-testid="service-chart-restarts" data-points={points.length}>
          <figcaption className="mb-1 flex justify-between text-sm">
            <span className="font-medium">Restarts</span>
            <span className="text-slate-600">tasks that replaced one that failed, exited or was lost, per 10 s</span>
          </figcaption>
          <TimeSeriesChart
            label="Task restarts"
            times={times}
            values={restarts}
            series={[{ label: "restarts", color: "#dc2626", stepped: true }]}
            format={(v) => String(Math.round(v))}
          />
        </figure>
      </div>
    </Card>
  );
}
