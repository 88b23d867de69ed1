"use client";
import { use, useState } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../../src/client/trpc";
import { AppShell } from "../../../../src/components/app-shell";
import { HostTabs } from "../../../../src/components/host-tabs";
import { RunDialog } from "../../../../src/components/run-dialog";
import { Button, ErrorBox, Spinner, TableHead } from "../../../../src/components/ui";
import { formatAgo } from "../../../../src/components/format";
import { useHostAccess } from "../../../../src/components/use-host-access";

const STATE_STYLE: Record<string, string> = {
  running: "bg-emerald-100 text-emerald-800",
  paused: "bg-amber-100 text-amber-800",
  restarting: "bg-amber-100 text-amber-800",
  created: "bg-slate-100 text-slate-700",
  exited: "bg-slate-100 text-slate-700",
  dead: "bg-red-100 text-red-800",
};

function ContainersTab({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [running, setRunning] = useState(false);
  const { host, canOperate } = useHostAccess(hostId);
  const containers = useQuery(
    trpc.containers.list.queryOptions({ hostId, all: true }, { enabled: host.data?.connected === true, refetchInterval: 3000 }),
  );
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.containers.list.queryKey({ hostId, all: true }) });
  const opts = { onSuccess: refresh };
  const start = useMutation(trpc.containers.start.mutationOptions(opts));
  const stop = useMutation(trpc.containers.stop.mutationOptions(opts));
  const restart = useMutation(trpc.containers.restart.mutationOptions(opts));
  const pause = useMutation(trpc.containers.pause.mutationOptions(opts));
  const unpause = useMutation(trpc.containers.unpause.mutationOptions(opts));
  const remove = useMutation(trpc.containers.remove.mutationOptions(opts));
  const error = containers.error ?? start.error ?? stop.error ?? restart.error ?? pause.error ?? unpause.error ?? remove.error;

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{host.data?.name ?? "…"}</h1>
        <div className="ml-auto flex gap-2">
          {canOperate && (
            <Button disabled={!host.data?.connected} onClick={() => setRunning(true)}>
              Run container
            </Button>
          )}
        </div>
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox error={error} onRetry={containers.isError ? () => void containers.refetch() : undefined} />
      {host.data && !host.data.connected && (
        <p className="text-sm text-slate-500">The host is offline; its containers show when it reconnects.</p>
      )}
      {containers.isPending && host.data?.connected && <Spinner label="Loading containers…" />}
      {containers.data && containers.data.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center text-sm text-slate-500">
          No containers on this host yet.
        </div>
      )}
      {containers.data && containers.data.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Image", "Command", "Created", "State", "Status", ""]} />
            <tbody className="divide-y divide-slate-100">
              {containers.data.map((c) => {
                const name = c.Names[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12);
                const id = { hostId, id: c.Id };
                const live = c.State === "running" || c.State === "paused";
                return (
                  <tr key={c.Id} data-testid="container-row" data-name={name} data-state={c.State}>
                    <td className="px-4 py-2">
                      <Link className="font-medium text-indigo-700 hover:underline" href={`/hosts/${hostId}/containers/${c.Id}`}>
                        {name}
                      </Link>
                      <div className="font-mono text-xs text-slate-400">{c.Id.slice(0, 12)}</div>
                    </td>
                    <td className="px-4 py-2 font-mono text-xs">{c.Image}</td>
                    <td className="max-w-xs truncate px-4 py-2 font-mono text-xs" title={c.Command}>
                      {c.Command}
                    </td>
                    <td className="px-4 py-2 text-slate-500">{formatAgo(new Date(c.Created * 1000))}</td>
                    <td className="px-4 py-2">
                      <span className={`rounded px-2 py-0.5 text-xs font-medium ${STATE_STYLE[c.State] ?? STATE_STYLE.created}`}>
                        {c.State}
                      </span>
                    </td>
                    <td className="px-4 py-2 text-slate-600">{c.Status}</td>
                    <td className="space-x-1 whitespace-nowrap px-4 py-2 text-right">
                      {canOperate && (
                        <>
                          {!live && (
                            <Button variant="secondary" onClick={() => start.mutate(id)}>
                              Start
                            </Button>
                          )}
                          {c.State === "running" && (
                            <Button variant="secondary" onClick={() => stop.mutate(id)}>
                              Stop
                            </Button>
                          )}
                          {live && (
                            <Button variant="secondary" onClick={() => restart.mutate(id)}>
                              Restart
                            </Button>
                          )}
                          {c.State === "running" && (
                            <Button variant="secondary" onClick={() => pause.mutate(id)}>
                              Pause
                            </Button>
                          )}
                          {c.State === "paused" && (
                            <Button variant="secondary" onClick={() => unpause.mutate(id)}>
                              Unpause
                            </Button>
                          )}
                          <Button
                            variant="danger"
                            onClick={() => {
                              if (confirm(`Remove ${name}${live ? " (it is running; it will be killed)" : ""}?`))
                                remove.mutate({ ...id, force: live });
                            }}
                          >
                            Remove
                          </Button>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {running && <RunDialog hostId={hostId} onClose={() => setRunning(false)} />}
    </div>
  );
}

export default function HostContainersPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <ContainersTab hostId={id} />
    </AppShell>
  );
}
