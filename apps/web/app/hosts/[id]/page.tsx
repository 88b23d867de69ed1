"use client";
import { use, useState } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../src/client/trpc";
import { AppShell } from "../../../src/components/app-shell";
import { Button, Card, ErrorBox, Spinner, StatusBadge } from "../../../src/components/ui";
import { formatAgo, formatBytes, primaryAddress } from "../../../src/components/format";
import { HostTabs } from "../../../src/components/host-tabs";
import { HostStatsCharts } from "../../../src/components/stats-charts";
import { EventsFeed } from "../../../src/components/events-feed";

/** The host's CPU and memory over the last hour, with its newest 1 s point each second. */
function HostStats({ id }: { id: string }) {
  const trpc = useTRPC();
  const stats = useQuery(trpc.hosts.statsHistory.queryOptions({ id }, { refetchInterval: 1_000 }));
  const points = [...(stats.data?.history ?? [])];
  const latest = stats.data?.latest;
  if (latest && (points.length === 0 || latest.at > points[points.length - 1]!.at)) points.push(latest);
  return <HostStatsCharts points={points} />;
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="mt-0.5 text-sm">{children}</dd>
    </div>
  );
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/[\n,]/)) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    out[eq < 0 ? t : t.slice(0, eq).trim()] = eq < 0 ? "" : t.slice(eq + 1).trim();
  }
  return out;
}

function HostDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const host = useQuery(trpc.hosts.get.queryOptions({ id }, { refetchInterval: 2_000 }));
  const me = useQuery(trpc.auth.me.queryOptions());
  const role = me.data?.memberships.find((m) => m.teamId === host.data?.teamId)?.role;
  const canEdit = role === "owner" || role === "admin" || role === "operator";
  const canRemove = role === "owner" || role === "admin";
  const [name, setName] = useState<string | null>(null);
  const [labels, setLabels] = useState<string | null>(null);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.hosts.pathKey() });
  const rename = useMutation(
    trpc.hosts.rename.mutationOptions({
      onSuccess: () => {
        setName(null);
        return invalidate();
      },
    }),
  );
  const setHostLabels = useMutation(
    trpc.hosts.setLabels.mutationOptions({
      onSuccess: () => {
        setLabels(null);
        return invalidate();
      },
    }),
  );
  const setAvailability = useMutation(trpc.services.setAvailability.mutationOptions({ onSuccess: () => invalidate() }));
  const revokeCredential = useMutation(trpc.hosts.revokeCredential.mutationOptions({ onSuccess: () => invalidate() }));
  const remove = useMutation(
    trpc.hosts.remove.mutationOptions({
      onSuccess: () => {
        void invalidate();
        router.replace("/hosts");
      },
    }),
  );

  if (host.isPending) return <Spinner label="Loading host…" />;
  if (host.isError) return <ErrorBox error={host.error} onRetry={() => void host.refetch()} />;
  const h = host.data;
  const f = h.facts;
  const labelText = Object.entries(h.labels)
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join("\n");

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        {name === null ? (
          <h1 className="text-2xl font-semibold" data-testid="host-name">
            {h.name}
          </h1>
        ) : (
          <form
            className="flex gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              rename.mutate({ id, name });
            }}
          >
            <input
              aria-label="Host name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              className="rounded-md border border-slate-300 px-2 py-1"
            />
            <Button type="submit" disabled={rename.isPending}>
              Save
            </Button>
            <Button variant="secondary" type="button" onClick={() => setName(null)}>
              Cancel
            </Button>
          </form>
        )}
        <StatusBadge status={h.status} />
        <label className="text-sm text-slate-600">
          Availability{" "}
          <select
            aria-label="Availability"
            title="active: takes service tasks; pause: keeps its tasks, takes no new ones; drain: its tasks move to other hosts"
            className="rounded-md border border-slate-300 px-2 py-1 text-sm"
            value={h.availability}
            disabled={!canEdit || setAvailability.isPending}
            onChange={(e) => setAvailability.mutate({ hostId: id, availability: e.target.value as "active" | "pause" | "drain" })}
          >
            <option value="active">active</option>
            <option value="pause">pause</option>
            <option value="drain">drain</option>
          </select>
        </label>
        <div className="ml-auto flex gap-2">
          {canEdit && name === null && (
            <Button variant="secondary" onClick={() => setName(h.name)}>
              Rename
            </Button>
          )}
          {canRemove && (
            <Button
              variant="secondary"
              disabled={revokeCredential.isPending}
              onClick={() => {
                if (
                  confirm(`Revoke ${h.name}'s credential? The agent is disconnected now and refused until it joins again with a new token.`)
                )
                  revokeCredential.mutate({ id });
              }}
            >
              Revoke credential
            </Button>
          )}
          {canRemove && (
            <Button
              variant="danger"
              disabled={remove.isPending}
              onClick={() => {
                if (confirm(`Remove ${h.name}? Its credential is revoked and the agent is disconnected.`)) remove.mutate({ id });
              }}
            >
              Remove
            </Button>
          )}
        </div>
      </div>
      <HostTabs hostId={id} />
      <ErrorBox error={rename.error ?? setHostLabels.error ?? remove.error ?? revokeCredential.error} />
      <HostStats id={id} />
      {h.status === "online" && (
        <Card title="Events, live">
          <EventsFeed hostId={id} />
        </Card>
      )}
      <Card title="Facts">
        {f ? (
          <dl className="grid grid-cols-2 gap-4 md:grid-cols-4">
            <Fact label="Address">{primaryAddress(h.remoteAddr, f.addresses[0]?.address)}</Fact>
            <Fact label="Hostname">{f.hostname}</Fact>
            <Fact label="OS">{f.os.prettyName}</Fact>
            <Fact label="Kernel">{f.kernel}</Fact>
            <Fact label="Architecture">{f.arch}</Fact>
            <Fact label="CPUs">{f.cpus}</Fact>
            <Fact label="Memory">{formatBytes(f.memoryBytes)}</Fact>
            <Fact label="Disk">{`${formatBytes(f.disk.freeBytes)} free of ${formatBytes(f.disk.totalBytes)}`}</Fact>
            <Fact label="Agent">{h.agentVersion ?? "—"}</Fact>
            <Fact label="runc">{f.versions.runc ?? "not installed"}</Fact>
            <Fact label="conmon">{f.versions.conmon ?? "not installed"}</Fact>
            <Fact label="nftables">{f.versions.nft ?? "not installed"}</Fact>
            <Fact label="Last seen">{formatAgo(h.lastSeenAt)}</Fact>
            <Fact label="Joined">{new Date(h.createdAt).toLocaleString()}</Fact>
            <Fact label="Addresses">
              <ul className="font-mono text-xs">
                {f.addresses.map((a) => (
                  <li key={`${a.iface}-${a.address}`}>
                    {a.iface}: {a.address}
                  </li>
                ))}
              </ul>
            </Fact>
          </dl>
        ) : (
          <p className="text-sm text-slate-500">The agent has not reported facts yet.</p>
        )}
      </Card>
      <Card
        title="Labels"
        actions={
          canEdit && labels === null ? (
            <Button variant="secondary" onClick={() => setLabels(labelText)}>
              Edit
            </Button>
          ) : null
        }
      >
        {labels === null ? (
          Object.keys(h.labels).length === 0 ? (
            <p className="text-sm text-slate-500">No labels. Labels are key=value tags, used to place services on hosts.</p>
          ) : (
            <ul className="flex flex-wrap gap-2" data-testid="host-labels">
              {Object.entries(h.labels).map(([k, v]) => (
                <li key={k} className="rounded bg-slate-100 px-2 py-0.5 font-mono text-xs">
                  {v ? `${k}=${v}` : k}
                </li>
              ))}
            </ul>
          )
        ) : (
          <form
            className="space-y-2"
            onSubmit={(e) => {
              e.preventDefault();
              setHostLabels.mutate({ id, labels: parseLabels(labels) });
            }}
          >
            <textarea
              aria-label="Labels"
              rows={4}
              value={labels}
              onChange={(e) => setLabels(e.target.value)}
              placeholder="region=eu&#10;disk=ssd"
              className="w-full rounded-md border border-slate-300 p-2 font-mono text-xs"
            />
            <div className="flex gap-2">
              <Button type="submit" disabled={setHostLabels.isPending}>
                Save labels
              </Button>
              <Button type="button" variant="secondary" onClick={() => setLabels(null)}>
                Cancel
              </Button>
            </div>
          </form>
        )}
      </Card>
    </div>
  );
}

export default function HostPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <HostDetail id={id} />
    </AppShell>
  );
}
