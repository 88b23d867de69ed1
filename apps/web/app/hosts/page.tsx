"use client";
import Link from "next/link";
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { AddHostDialog } from "../../src/components/add-host-dialog";
import { JoinTokensCard } from "../../src/components/join-tokens-card";
import { Button, ErrorBox, Spinner, StatusBadge, TableHead } from "../../src/components/ui";
import { formatAgo, formatBytes, primaryAddress } from "../../src/components/format";

/** Status changes show up without a reload: the list is re-fetched every two seconds. */
const LIVE_REFRESH_MS = 2_000;

function HostsTable() {
  const trpc = useTRPC();
  const [adding, setAdding] = useState(false);
  const hosts = useQuery(trpc.hosts.list.queryOptions(undefined, { refetchInterval: LIVE_REFRESH_MS }));
  const me = useQuery(trpc.auth.me.queryOptions());
  const canAdd = me.data?.memberships.some((m) => m.role === "owner" || m.role === "admin") ?? false;

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-2xl font-semibold">Hosts</h1>
        {canAdd && <Button onClick={() => setAdding(true)}>Add host</Button>}
      </div>
      {hosts.isPending && <Spinner label="Loading hosts…" />}
      {hosts.isError && <ErrorBox error={hosts.error} onRetry={() => void hosts.refetch()} />}
      {hosts.data && hosts.data.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center">
          <p className="font-medium">No hosts yet</p>
          <p className="mt-1 text-sm text-slate-500">Add a server with one command and it will show up here.</p>
          {canAdd && (
            <Button className="mt-4" onClick={() => setAdding(true)}>
              Add host
            </Button>
          )}
        </div>
      )}
      {hosts.data && hosts.data.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Status", "Address", "OS", "CPU / memory", "Agent", "Last seen"]} />
            <tbody className="divide-y divide-slate-100">
              {hosts.data.map((h) => (
                <tr key={h.id} data-testid="host-row" data-host-name={h.name} className="hover:bg-slate-50">
                  <td className="px-4 py-2 font-medium">
                    <Link className="text-indigo-700 hover:underline" href={`/hosts/${h.id}`}>
                      {h.name}
                    </Link>
                  </td>
                  <td className="px-4 py-2">
                    <StatusBadge status={h.status} />
                  </td>
                  <td className="px-4 py-2 font-mono text-xs">{primaryAddress(h.remoteAddr, h.address)}</td>
                  <td className="px-4 py-2">{h.os ?? "—"}</td>
                  <td className="px-4 py-2">{h.cpus !== null ? `${h.cpus} CPU · ${formatBytes(h.memoryBytes)}` : "—"}</td>
                  <td className="px-4 py-2">{h.agentVersion ?? "—"}</td>
                  <td className="px-4 py-2 text-slate-500">{formatAgo(h.lastSeenAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canAdd && <JoinTokensCard />}
      {adding && <AddHostDialog onClose={() => setAdding(false)} />}
    </div>
  );
}

export default function HostsPage() {
  return (
    <AppShell>
      <HostsTable />
    </AppShell>
  );
}
