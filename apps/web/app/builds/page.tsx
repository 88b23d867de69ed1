"use client";
import Link from "next/link";
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { BuildDialog } from "../../src/components/build-dialog";
import { BuildStatusBadge, buildSource, formatDuration } from "../../src/components/build-parts";
import { formatAgo } from "../../src/components/format";
import { Button, ErrorBox, Spinner, TableHead } from "../../src/components/ui";

/** Every build of the caller's teams, newest first, while any runs refreshed every few seconds. */
function Builds() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const builds = useQuery(
    trpc.builds.list.queryOptions(undefined, {
      refetchInterval: (q) => (q.state.data?.some((b) => b.status === "running" || b.status === "queued") ? 2_000 : false),
    }),
  );
  const canBuild = me.data?.memberships.some((m) => m.role !== "viewer") ?? false;
  const [open, setOpen] = useState(false);
  return (
    <div className="space-y-4">
      <div className="flex items-center">
        <h1 className="text-2xl font-semibold">Builds</h1>
        {canBuild && (
          <Button className="ml-auto" onClick={() => setOpen(true)}>
            New build
          </Button>
        )}
      </div>
      <p className="text-sm text-slate-600">
        Images built on a host from a git repository or from files, with their logs. The stock docker CLI builds against a host's socket or
        the fleet endpoint too.
      </p>
      <ErrorBox error={builds.error} />
      {builds.isPending && <Spinner />}
      {builds.data && builds.data.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center text-sm text-slate-500">No builds yet.</div>
      )}
      {builds.data && builds.data.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Build", "Status", "Tags", "Host", "Source", "By", "Took", "Started"]} />
            <tbody className="divide-y divide-slate-100">
              {builds.data.map((b) => (
                <tr key={b.id} data-testid="build-row" data-status={b.status}>
                  <td className="px-4 py-2 font-mono text-xs">
                    <Link href={`/builds/${b.id}`} className="text-indigo-700 hover:underline">
                      {b.id.slice(-8)}
                    </Link>
                  </td>
                  <td className="px-4 py-2">
                    <BuildStatusBadge status={b.status} />
                  </td>
                  <td className="px-4 py-2 font-mono text-xs">{b.tags.join(", ") || "—"}</td>
                  <td className="px-4 py-2">{b.hostName}</td>
                  <td className="px-4 py-2 font-mono text-xs">{buildSource(b)}</td>
                  <td className="px-4 py-2">{b.createdByName}</td>
                  <td className="px-4 py-2">{formatDuration(b.durationMs)}</td>
                  <td className="px-4 py-2 text-slate-500">{formatAgo(b.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open && <BuildDialog onClose={() => setOpen(false)} />}
    </div>
  );
}

export default function BuildsPage() {
  return (
    <AppShell>
      <Builds />
    </AppShell>
  );
}
