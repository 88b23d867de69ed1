"use client";
import { Fragment, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../src/components/ui";

/** One overlay network's endpoints: which container has which address on which host. */
function Endpoints({ id }: { id: string }) {
  const trpc = useTRPC();
  const net = useQuery(trpc.overlays.get.queryOptions({ id }));
  if (net.error) return <ErrorBox error={net.error} />;
  if (!net.data) return <Spinner />;
  const failures = net.data.hostErrors.length > 0 && (
    <ul className="mb-2 space-y-1 rounded-md border border-red-200 bg-red-50 p-2 text-xs text-red-800" data-testid="overlay-host-errors">
      {net.data.hostErrors.map((h) => (
        <li key={h.host.id}>
          <span className="font-semibold">{h.host.name}</span> could not program this network ({new Date(h.at).toLocaleString()}):{" "}
          <span className="font-mono">{h.error}</span>
        </li>
      ))}
    </ul>
  );
  if (net.data.endpointList.length === 0)
    return (
      <>
        {failures}
        <p className="text-sm text-slate-500">No container is on this network.</p>
      </>
    );
  return (
    <>
      {failures}
      <table className="min-w-full text-xs" data-testid="overlay-endpoints">
        <TableHead variant="card" columns={["Container", "Address", "Host", "Takes traffic"]} />
        <tbody className="divide-y divide-slate-100">
          {net.data.endpointList.map((e) => (
            <tr key={e.containerId}>
              <td className="py-1 pr-4 font-mono">{e.name}</td>
              <td className="py-1 pr-4 font-mono">{e.ip}</td>
              <td className="py-1 pr-4">{e.host.name}</td>
              <td className="py-1 pr-4">{e.serving ? "yes" : "no (not healthy)"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Networks() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.overlays.list.queryOptions());
  const teams = useQuery(trpc.auth.teams.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const canChange = me.data?.memberships.some((m) => m.role !== "viewer") ?? false;
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.overlays.list.queryKey() });
  const create = useMutation(trpc.overlays.create.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.overlays.remove.mutationOptions({ onSuccess: refresh }));
  const [open, setOpen] = useState<string | null>(null);
  const [formKey, setFormKey] = useState(0);

  function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const teamId = teams.data?.[0]?.id;
    if (!teamId) return;
    const text = (k: string) => String(f.get(k) ?? "").trim() || undefined;
    create.mutate(
      {
        teamId,
        name: String(f.get("name") ?? ""),
        subnet: text("subnet"),
        gateway: text("gateway"),
        attachable: f.get("attachable") === "on",
        internal: f.get("internal") === "on",
        encrypted: f.get("encrypted") === "on",
      },
      { onSuccess: () => setFormKey((k) => k + 1) },
    );
  }

  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Overlay networks</h1>
      <p className="text-sm text-slate-600">
        Overlay networks span your team's hosts: containers and service tasks on one reach each other by name from any host, and a service's
        name balances over its healthy tasks. A host's own bridge networks are on its Networks tab.
      </p>
      <ErrorBox error={list.error ?? remove.error} />
      {list.isPending && <Spinner />}
      {list.data && list.data.length === 0 && <p className="text-sm text-slate-500">No overlay networks yet.</p>}
      {list.data && list.data.length > 0 && (
        <Card>
          <table className="min-w-full text-sm" data-testid="overlays">
            <TableHead variant="card" columns={["Name", "Subnet", "VNI", "Options", "Endpoints", ""]} />
            <tbody className="divide-y divide-slate-100">
              {list.data.map((n) => (
                <Fragment key={n.id}>
                  <tr data-testid="overlay-row">
                    <td className="py-1.5 pr-4 font-mono">
                      <button
                        type="button"
                        className="text-indigo-700 hover:underline"
                        onClick={() => setOpen(open === n.id ? null : n.id)}
                      >
                        {n.name}
                      </button>
                    </td>
                    <td className="py-1.5 pr-4 font-mono">
                      {n.subnet} via {n.gateway}
                    </td>
                    <td className="py-1.5 pr-4">{n.vni}</td>
                    <td className="py-1.5 pr-4">
                      {[n.ingress && "routing mesh", n.attachable && "attachable", n.internal && "internal", n.encrypted && "encrypted"]
                        .filter(Boolean)
                        .join(", ") || "—"}
                    </td>
                    <td className="py-1.5 pr-4">
                      {n.endpoints}
                      {n.failingHosts > 0 && (
                        <span className="ml-2 text-red-700" data-testid="overlay-failing">
                          {n.failingHosts} {n.failingHosts === 1 ? "host" : "hosts"} failing
                        </span>
                      )}
                    </td>
                    <td className="py-1.5 text-right">
                      {canChange && !n.ingress && (
                        <Button variant="secondary" onClick={() => confirm(`Remove network ${n.name}?`) && remove.mutate({ id: n.id })}>
                          Remove
                        </Button>
                      )}
                    </td>
                  </tr>
                  {open === n.id && (
                    <tr>
                      <td colSpan={6} className="bg-slate-50 px-3 py-2">
                        <Endpoints id={n.id} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      {canChange && (
        <Card title="Create an overlay network">
          <form key={formKey} onSubmit={onSubmit} className="grid gap-3 text-sm md:grid-cols-3">
            <ErrorBox error={create.error} />
            <label>
              Name
              <input name="name" required className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono" />
            </label>
            <label>
              Subnet (optional)
              <input
                name="subnet"
                placeholder="a free /24 of 10.0.0.0/8"
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono"
              />
            </label>
            <label>
              Gateway (optional)
              <input name="gateway" className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono" />
            </label>
            <label className="flex items-center gap-2">
              <input name="attachable" type="checkbox" defaultChecked /> Attachable (standalone containers may join)
            </label>
            <label className="flex items-center gap-2">
              <input name="internal" type="checkbox" /> Internal (no way out)
            </label>
            <label className="flex items-center gap-2">
              <input name="encrypted" type="checkbox" /> Encrypted (WireGuard between hosts)
            </label>
            <div className="md:col-span-3">
              <Button type="submit" disabled={create.isPending}>
                Create network
              </Button>
            </div>
          </form>
        </Card>
      )}
    </div>
  );
}

export default function NetworksPage() {
  return (
    <AppShell>
      <Networks />
    </AppShell>
  );
}
