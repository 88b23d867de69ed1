"use client";
import { use, useState } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../../src/client/trpc";
import { AppShell } from "../../../../src/components/app-shell";
import { HostTabs } from "../../../../src/components/host-tabs";
import { Button, ErrorBox, Spinner, TableHead } from "../../../../src/components/ui";
import { formatAgo } from "../../../../src/components/format";
import { useHostAccess } from "../../../../src/components/use-host-access";
import { NetworkDialog } from "../../../../src/components/network-dialog";

const PREDEFINED = new Set(["bridge", "host", "none"]);

function NetworksTab({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { host, canOperate } = useHostAccess(hostId);
  const online = host.data?.connected === true;
  const networks = useQuery(trpc.networks.list.queryOptions({ hostId }, { enabled: online, retry: false }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.networks.list.queryKey({ hostId }) });
  const [creating, setCreating] = useState(false);
  const remove = useMutation(trpc.networks.remove.mutationOptions({ onSuccess: refresh }));
  const prune = useMutation(trpc.networks.prune.mutationOptions({ onSuccess: refresh }));
  const rows = [...(networks.data ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{host.data?.name ?? "…"}</h1>
        <div className="ml-auto flex gap-2">
          {canOperate && networks.data && (
            <>
              <Button variant="secondary" disabled={prune.isPending} onClick={() => prune.mutate({ hostId })}>
                Prune unused
              </Button>
              <Button onClick={() => setCreating(true)}>Create network</Button>
            </>
          )}
        </div>
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox
        error={networks.error ?? remove.error ?? prune.error}
        onRetry={networks.isError ? () => void networks.refetch() : undefined}
      />
      {host.data && !online && <p className="text-sm text-slate-500">The host is offline; its networks show when it reconnects.</p>}
      {networks.isPending && online && <Spinner label="Loading networks…" />}
      {rows.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Driver", "Subnet", "Created", "Containers", ""]} />
            <tbody className="divide-y divide-slate-100">
              {rows.map((n) => (
                <tr key={n.Id} data-testid="network-row" data-name={n.Name}>
                  <td className="px-4 py-2 font-mono text-xs">
                    {n.Name}
                    {n.Internal && (
                      <span className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 font-sans text-[11px] text-slate-500">internal</span>
                    )}
                  </td>
                  <td className="px-4 py-2">{n.Driver}</td>
                  <td className="px-4 py-2 font-mono text-xs">{n.IPAM.Config.map((c) => c.Subnet).join(", ") || "—"}</td>
                  <td className="px-4 py-2 text-slate-500">{formatAgo(new Date(n.Created))}</td>
                  <td className="px-4 py-2" data-testid="network-containers">
                    {Object.keys(n.Containers).length === 0 ? (
                      <span className="text-slate-400">none</span>
                    ) : (
                      Object.entries(n.Containers).map(([id, c]) => (
                        <Link
                          key={id}
                          href={`/hosts/${hostId}/containers/${id}`}
                          className="mr-2 text-indigo-700 hover:underline"
                          title={c.IPv4Address}
                        >
                          {c.Name}
                        </Link>
                      ))
                    )}
                  </td>
                  <td className="px-4 py-2 text-right">
                    {canOperate && !PREDEFINED.has(n.Name) && (
                      <Button
                        variant="danger"
                        onClick={() => {
                          if (confirm(`Remove network ${n.Name}?`)) remove.mutate({ hostId, id: n.Id });
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
      {creating && <NetworkDialog hostId={hostId} onClose={() => setCreating(false)} />}
    </div>
  );
}

export default function HostNetworksPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <NetworksTab hostId={id} />
    </AppShell>
  );
}
