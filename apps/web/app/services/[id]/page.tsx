"use client";
import { use, useState } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../src/client/trpc";
import { AppShell } from "../../../src/components/app-shell";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../../src/components/ui";
import { formatAgo } from "../../../src/components/format";
import { TaskStateBadge, UpdateStateBadge, useCanOperate } from "../../../src/components/service-parts";
import { ServiceCharts } from "../../../src/components/service-charts";
import { LogViewer } from "../../../src/components/log-viewer";
import { EventsFeed } from "../../../src/components/events-feed";

const LIVE_REFRESH_MS = 1_000;
const input = "rounded-md border border-slate-300 px-2 py-1 text-sm";

function ServiceView({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const canOperate = useCanOperate();
  const service = useQuery(trpc.services.get.queryOptions({ id }, { refetchInterval: LIVE_REFRESH_MS }));
  const tasks = useQuery(trpc.services.tasks.queryOptions({ id }, { refetchInterval: LIVE_REFRESH_MS }));
  const [replicas, setReplicas] = useState<string | null>(null);
  const [image, setImage] = useState<string | null>(null);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.services.get.queryKey({ id }) });
    void queryClient.invalidateQueries({ queryKey: trpc.services.tasks.queryKey({ id }) });
  };
  const scale = useMutation(trpc.services.scale.mutationOptions({ onSuccess: refresh }));
  const update = useMutation(trpc.services.update.mutationOptions({ onSuccess: refresh }));
  const rollback = useMutation(trpc.services.rollback.mutationOptions({ onSuccess: refresh }));
  const resume = useMutation(trpc.services.resume.mutationOptions({ onSuccess: refresh }));
  const pause = useMutation(trpc.services.pause.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.services.remove.mutationOptions({ onSuccess: () => router.push("/services") }));

  if (service.isPending) return <Spinner label="Loading the service…" />;
  if (service.isError) return <ErrorBox error={service.error} onRetry={() => void service.refetch()} />;
  const s = service.data;
  const all = tasks.data ?? [];
  const current = all.filter((t) => t.desiredState === "running");
  const running = current.filter((t) => t.state === "running").length;
  const desired = s.spec.mode.kind === "replicated" ? String(s.spec.mode.replicas) : "every host";
  const byHost = new Map<string, typeof current>();
  for (const t of current) {
    const key = t.host?.name ?? "(not placed)";
    byHost.set(key, [...(byHost.get(key) ?? []), t]);
  }
  const error = scale.error ?? update.error ?? rollback.error ?? pause.error ?? resume.error ?? remove.error;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div>
          <h1 className="text-2xl font-semibold">{s.name}</h1>
          <p className="text-sm text-slate-600">
            <span className="font-mono">{s.spec.task.image}</span> · {s.spec.mode.kind} · version {s.version} ·{" "}
            <span data-testid="running">
              {running} / {desired}
            </span>{" "}
            running · <UpdateStateBadge state={s.updateState} />
            {s.updateMessage && <span className="ml-2 text-xs text-slate-500">{s.updateMessage}</span>}
          </p>
        </div>
        {canOperate && (
          <div className="flex flex-wrap items-center gap-2">
            {s.spec.mode.kind === "replicated" && (
              <form
                className="flex items-center gap-1"
                onSubmit={(e) => {
                  e.preventDefault();
                  scale.mutate({
                    id,
                    version: s.version,
                    replicas: Number(replicas ?? (s.spec.mode.kind === "replicated" ? s.spec.mode.replicas : 0)),
                  });
                  setReplicas(null);
                }}
              >
                <input
                  aria-label="Replicas"
                  type="number"
                  min={0}
                  className={`${input} w-20`}
                  value={replicas ?? (s.spec.mode.kind === "replicated" ? s.spec.mode.replicas : 0)}
                  onChange={(e) => setReplicas(e.target.value)}
                />
                <Button type="submit" variant="secondary">
                  Scale
                </Button>
              </form>
            )}
            <form
              className="flex items-center gap-1"
              onSubmit={(e) => {
                e.preventDefault();
                update.mutate({ id, version: s.version, spec: { ...s.spec, task: { ...s.spec.task, image: image ?? s.spec.task.image } } });
                setImage(null);
              }}
            >
              <input
                aria-label="New image"
                className={`${input} w-48 font-mono`}
                value={image ?? s.spec.task.image}
                onChange={(e) => setImage(e.target.value)}
              />
              <Button type="submit" variant="secondary">
                Update
              </Button>
            </form>
            <Button variant="secondary" onClick={() => update.mutate({ id, version: s.version, spec: s.spec, force: true })}>
              Force redeploy
            </Button>
            <Button variant="secondary" disabled={s.previousVersion === null} onClick={() => rollback.mutate({ id, version: s.version })}>
              Roll back
            </Button>
            {(s.updateState === "updating" || s.updateState === "rollback_started") && (
              <Button variant="secondary" onClick={() => pause.mutate({ id })}>
                Pause update
              </Button>
            )}
            {(s.updateState === "paused" || s.updateState === "rollback_paused") && (
              <Button variant="secondary" onClick={() => resume.mutate({ id })}>
                Resume
              </Button>
            )}
            <Button
              variant="danger"
              onClick={() => {
                if (window.confirm(`Remove service ${s.name} and all its tasks?`)) remove.mutate({ id });
              }}
            >
              Remove
            </Button>
          </div>
        )}
      </div>
      <ErrorBox error={error} />

      <Card title="Tasks by host">
        {current.length === 0 ? (
          <p className="text-sm text-slate-500">No tasks.</p>
        ) : (
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
            {[...byHost].map(([host, list]) => (
              <div key={host} data-testid="host-tasks" data-host={host} className="rounded-md ring-1 ring-slate-200">
                <h3 className="border-b border-slate-100 px-3 py-1.5 text-sm font-semibold">{host}</h3>
                <ul className="divide-y divide-slate-100">
                  {list.map((t) => (
                    <li
                      key={t.id}
                      data-testid="task"
                      data-slot={t.slot}
                      className="flex items-center justify-between gap-2 px-3 py-1.5 text-sm"
                    >
                      <span className="font-mono text-xs">
                        {s.name}.{t.slot || "g"}
                      </span>
                      <TaskStateBadge state={t.state} />
                      {t.message && (
                        <span className="truncate text-xs text-slate-500" title={t.message}>
                          {t.message}
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            ))}
          </div>
        )}
      </Card>

      <ServiceCharts id={id} />

      <Card title="Logs (every task, merged)">
        <LogViewer source={{ kind: "service", serviceId: id }} />
      </Card>

      <Card title="Events">
        <EventsFeed serviceId={id} />
      </Card>

      <Card title="Slot history">
        <table className="min-w-full text-sm">
          <TableHead variant="card" columns={["Slot", "Task", "Host", "Version", "Desired", "State", "Error", "Changed"]} />
          <tbody>
            {all.map((t) => (
              <tr
                key={t.id}
                data-testid="history-row"
                data-state={t.state}
                className={t.desiredState === "running" ? "" : "text-slate-500"}
              >
                <td className="py-1 pr-4">{t.slot || "—"}</td>
                <td className="py-1 pr-4 font-mono text-xs">{t.id.slice(0, 12)}</td>
                <td className="py-1 pr-4">{t.host?.name ?? "—"}</td>
                <td className="py-1 pr-4">{t.version}</td>
                <td className="py-1 pr-4">{t.desiredState}</td>
                <td className="py-1 pr-4">
                  <TaskStateBadge state={t.state} />
                </td>
                <td className="py-1 pr-4 text-xs">{t.message}</td>
                <td className="py-1 pr-4 text-xs">{formatAgo(t.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}

export default function ServicePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <ServiceView id={id} />
    </AppShell>
  );
}
