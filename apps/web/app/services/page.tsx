"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { ServiceDialog } from "../../src/components/service-dialog";
import { Button, ErrorBox, Spinner, TableHead } from "../../src/components/ui";
import { useCanOperate, UpdateStateBadge } from "../../src/components/service-parts";

/** Running/desired changes show up without a reload: the list is re-fetched every two seconds. */
const LIVE_REFRESH_MS = 2_000;

function ServicesTable() {
  const trpc = useTRPC();
  const router = useRouter();
  const [creating, setCreating] = useState(false);
  const services = useQuery(trpc.services.list.queryOptions(undefined, { refetchInterval: LIVE_REFRESH_MS }));
  const canOperate = useCanOperate();
  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-2xl font-semibold">Services</h1>
        {canOperate && <Button onClick={() => setCreating(true)}>Create service</Button>}
      </div>
      {services.isPending && <Spinner label="Loading services…" />}
      {services.isError && <ErrorBox error={services.error} onRetry={() => void services.refetch()} />}
      {services.data && services.data.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center">
          <p className="font-medium">No services yet</p>
          <p className="mt-1 text-sm text-slate-500">Declare what should run, and Berth keeps it running across your hosts.</p>
        </div>
      )}
      {services.data && services.data.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Mode", "Running / desired", "Image", "Update"]} />
            <tbody className="divide-y divide-slate-100">
              {services.data.map((s) => {
                const desired = s.spec.mode.kind === "replicated" ? String(s.spec.mode.replicas) : "every host";
                return (
                  <tr key={s.id} data-testid="service-row" data-name={s.name} className="hover:bg-slate-50">
                    <td className="px-4 py-2 font-medium">
                      <Link className="text-indigo-700 hover:underline" href={`/services/${s.id}`}>
                        {s.name}
                      </Link>
                    </td>
                    <td className="px-4 py-2">{s.spec.mode.kind}</td>
                    <td className="px-4 py-2" data-testid="replicas">
                      {s.running} / {desired}
                    </td>
                    <td className="px-4 py-2 font-mono text-xs">{s.spec.task.image}</td>
                    <td className="px-4 py-2">
                      <UpdateStateBadge state={s.updateState} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {creating && <ServiceDialog onClose={() => setCreating(false)} onCreated={(id) => router.push(`/services/${id}`)} />}
    </div>
  );
}

export default function ServicesPage() {
  return (
    <AppShell>
      <ServicesTable />
    </AppShell>
  );
}
