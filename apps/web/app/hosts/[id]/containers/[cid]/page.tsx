"use client";
import { use, useState } from "react";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../../../../src/client/trpc";
import { AppShell } from "../../../../../src/components/app-shell";
import { HostTabs } from "../../../../../src/components/host-tabs";
import { Card, ErrorBox, Spinner } from "../../../../../src/components/ui";
import { LogViewer } from "../../../../../src/components/log-viewer";
import { ContainerTerminal } from "../../../../../src/components/terminal";
import { StatsCharts } from "../../../../../src/components/stats-charts";
import { useHostAccess } from "../../../../../src/components/use-host-access";

type Section = "logs" | "terminal" | "stats" | "inspect";

/** Charts open with the stored hour already drawn, then follow the live stream. */
function ContainerStats({ hostId, containerId }: { hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const history = useQuery(trpc.containers.statsHistory.queryOptions({ hostId, id: containerId }, { staleTime: Infinity }));
  if (history.isPending) return <Spinner label="Loading stats history…" />;
  return <StatsCharts hostId={hostId} containerId={containerId} history={history.data?.history ?? []} />;
}

/** One container: live logs, a terminal (operators), live stats, and its inspect document. */
function ContainerDetail({ hostId, containerId }: { hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const { canOperate } = useHostAccess(hostId);
  const [section, setSection] = useState<Section>("logs");
  const inspect = useQuery(trpc.containers.inspect.queryOptions({ hostId, id: containerId }, { refetchInterval: 5000 }));
  const running = (inspect.data as { State?: { Running?: boolean } } | undefined)?.State?.Running === true;
  const sections: Section[] = ["logs", ...(canOperate && running ? (["terminal"] as const) : []), "stats", "inspect"];
  const data = inspect.data as
    | {
        Name?: string;
        State?: { Status: string; ExitCode: number; OOMKilled: boolean; StartedAt: string; Pid: number };
        RestartCount?: number;
        Config?: { Image?: string };
      }
    | undefined;
  const exit = data?.State?.Status === "exited" ? ` (${data.State.ExitCode}${data.State.OOMKilled ? ", OOM killed" : ""})` : "";

  return (
    <div className="space-y-4">
      <div className="flex items-baseline gap-3">
        <Link href={`/hosts/${hostId}/containers`} className="text-sm text-indigo-700 hover:underline">
          ← Containers
        </Link>
        <h1 className="text-2xl font-semibold" data-testid="container-name">
          {data?.Name?.replace(/^\//, "") ?? containerId.slice(0, 12)}
        </h1>
        {data?.State && (
          <span className="text-sm text-slate-600" data-testid="container-state">
            {data.State.Status}
            {exit} · restarts {data.RestartCount ?? 0}
          </span>
        )}
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox error={inspect.error} />
      <div className="flex gap-2 text-sm" role="tablist" aria-label="Container sections">
        {sections.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            aria-selected={section === s}
            onClick={() => setSection(s)}
            className={`rounded px-3 py-1 capitalize ${
              section === s ? "bg-slate-900 text-white" : "bg-white text-slate-700 ring-1 ring-slate-300"
            }`}
          >
            {s}
          </button>
        ))}
      </div>
      {section === "logs" && <LogViewer source={{ kind: "container", hostId, containerId }} />}
      {section === "terminal" && canOperate && <ContainerTerminal hostId={hostId} containerId={containerId} />}
      {section === "stats" && <ContainerStats hostId={hostId} containerId={containerId} />}
      {section === "inspect" && (
        <Card title="Inspect">
          {inspect.isPending ? (
            <Spinner />
          ) : (
            <pre className="max-h-[32rem] overflow-auto font-mono text-xs" data-testid="container-inspect">
              {JSON.stringify(inspect.data, null, 2)}
            </pre>
          )}
        </Card>
      )}
    </div>
  );
}

export default function ContainerPage({ params }: { params: Promise<{ id: string; cid: string }> }) {
  const { id, cid } = use(params);
  return (
    <AppShell>
      <ContainerDetail hostId={id} containerId={cid} />
    </AppShell>
  );
}
