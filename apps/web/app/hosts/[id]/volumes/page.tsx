"use client";
import { use } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../../src/client/trpc";
import { AppShell } from "../../../../src/components/app-shell";
import { HostTabs } from "../../../../src/components/host-tabs";
import { Button, ErrorBox, Spinner, TableHead } from "../../../../src/components/ui";
import { formatAgo } from "../../../../src/components/format";
import { useHostAccess } from "../../../../src/components/use-host-access";

const ANONYMOUS = "com.docker.volume.anonymous";

function VolumesTab({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { host, canOperate } = useHostAccess(hostId);
  const online = host.data?.connected === true;
  const volumes = useQuery(trpc.volumes.list.queryOptions({ hostId }, { enabled: online }));
  // Container names for the "Used by" column.
  const containers = useQuery(trpc.containers.list.queryOptions({ hostId, all: true }, { enabled: online }));
  const names = new Map((containers.data ?? []).map((c) => [c.Id, c.Names[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12)]));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.volumes.list.queryKey({ hostId }) });
  const create = useMutation(trpc.volumes.create.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.volumes.remove.mutationOptions({ onSuccess: refresh }));
  const prune = useMutation(trpc.volumes.prune.mutationOptions({ onSuccess: refresh }));
  const rows = [...(volumes.data ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{host.data?.name ?? "…"}</h1>
        <div className="ml-auto flex gap-2">
          {canOperate && (
            <>
              <Button variant="secondary" disabled={prune.isPending || !online} onClick={() => prune.mutate({ hostId, all: false })}>
                Prune unused anonymous
              </Button>
              <Button
                disabled={!online || create.isPending}
                onClick={() => {
                  const name = prompt("Name of the new volume (empty for a generated one)", "");
                  if (name !== null) create.mutate({ hostId, ...(name.trim() ? { name: name.trim() } : {}) });
                }}
              >
                Create volume
              </Button>
            </>
          )}
        </div>
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox
        error={volumes.error ?? create.error ?? remove.error ?? prune.error}
        onRetry={volumes.isError ? () => void volumes.refetch() : undefined}
      />
      {host.data && !online && <p className="text-sm text-slate-500">The host is offline; its volumes show when it reconnects.</p>}
      {volumes.isPending && online && <Spinner label="Loading volumes…" />}
      {volumes.data && rows.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center text-sm text-slate-500">
          No volumes on this host yet.
        </div>
      )}
      {rows.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Driver", "Created", "Used by", ""]} />
            <tbody className="divide-y divide-slate-100">
              {rows.map((v) => (
                <tr key={v.Name} data-testid="volume-row" data-name={v.Name}>
                  <td className="px-4 py-2 font-mono text-xs">
                    {v.Name.length === 64 ? v.Name.slice(0, 12) : v.Name}
                    {ANONYMOUS in v.Labels && (
                      <span className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 font-sans text-[11px] text-slate-500">anonymous</span>
                    )}
                  </td>
                  <td className="px-4 py-2">{v.Driver}</td>
                  <td className="px-4 py-2 text-slate-500">{formatAgo(new Date(v.CreatedAt))}</td>
                  <td className="px-4 py-2" data-testid="volume-used-by">
                    {v.UsedBy.length === 0 ? (
                      <span className="text-slate-400">unused</span>
                    ) : (
                      v.UsedBy.map((id) => (
                        <Link key={id} href={`/hosts/${hostId}/containers/${id}`} className="mr-2 text-indigo-700 hover:underline">
                          {names.get(id) ?? id.slice(0, 12)}
                        </Link>
                      ))
                    )}
                  </td>
                  <td className="px-4 py-2 text-right">
                    {canOperate && (
                      <Button
                        variant="danger"
                        onClick={() => {
                          if (confirm(`Remove volume ${v.Name}? Its data is deleted.`))
                            remove.mutate({ hostId, name: v.Name, force: false });
                        }}
                      >
                        Remove
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export default function HostVolumesPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <VolumesTab hostId={id} />
    </AppShell>
  );
}
