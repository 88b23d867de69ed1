"use client";
import { use } from "react";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../../../../src/client/trpc";
import { AppShell } from "../../../../../src/components/app-shell";
import { HostTabs } from "../../../../../src/components/host-tabs";
import { Card, ErrorBox, Spinner } from "../../../../../src/components/ui";

/** One container: its state, its inspect document, and the last 500 log lines. */
function ContainerDetail({ hostId, containerId }: { hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const inspect = useQuery(trpc.containers.inspect.queryOptions({ hostId, id: containerId }, { refetchInterval: 5000 }));
  const logs = useQuery(trpc.containers.logs.queryOptions({ hostId, id: containerId, tail: 500 }, { refetchInterval: 5000 }));
  const data = inspect.data as { Name?: string; State?: { Status: string; ExitCode: number; OOMKilled: boolean; StartedAt: string; Pid: number }; RestartCount?: number; Config?: { Image?: string } } | undefined;

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
            {data.State.Status === "exited" ? ` (${data.State.ExitCode}${data.State.OOMKilled ? ", OOM killed" : ""})` : ""} · restarts {data.RestartCount ?? 0}
          </span>
        )}
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox error={inspect.error ?? logs.error} />
      <Card title="Logs (last 500 lines)">
        {logs.isPending ? (
          <Spinner label="Loading logs…" />
        ) : (
          <pre className="max-h-[28rem] overflow-auto rounded bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-100" data-testid="container-logs">
            {(logs.data ?? []).map((l, i) => (
              <div key={i} className={l.stream === "stderr" ? "text-rose-300" : undefined}>
                <span className="select-none text-slate-500">{l.time.slice(0, 19).replace("T", " ")} </span>
                {l.line.replace(/\n$/, "")}
              </div>
            ))}
            {logs.data?.length === 0 && <span className="text-slate-500">No output yet.</span>}
          </pre>
        )}
      </Card>
      <Card title="Inspect">
        {inspect.isPending ? <Spinner /> : <pre className="max-h-[32rem] overflow-auto font-mono text-xs" data-testid="container-inspect">{JSON.stringify(inspect.data, null, 2)}</pre>}
      </Card>
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
