"use client";
import { useEffect, useState } from "react";
import Link from "next/link";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { Button, ErrorBox, Spinner } from "../../src/components/ui";
import { formatAgo, formatBytes } from "../../src/components/format";

const KINDS = ["container", "image", "network", "volume"] as const;
type Kind = (typeof KINDS)[number];
type Sort = "name" | "created" | "state" | "host" | "size";
const PAGE = 50;

/** Text typed into a filter reaches the server once typing pauses. */
function useDebounced<T>(value: T, ms = 250): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Everything on every host, one kind at a time: paged, sorted and filtered by the server. */
function Fleet() {
  const trpc = useTRPC();
  const [kind, setKind] = useState<Kind>("container");
  const [q, setQ] = useState("");
  const [state, setState] = useState("");
  const [sort, setSort] = useState<Sort>("name");
  const [dir, setDir] = useState<"asc" | "desc">("asc");
  const [offset, setOffset] = useState(0);
  const text = useDebounced(q);
  // biome-ignore lint/correctness/useExhaustiveDependencies: these are the triggers: a new kind, search, filter or sort starts at page one
  useEffect(() => setOffset(0), [kind, text, state, sort, dir]);
  const list = useQuery(
    trpc.fleet.list.queryOptions(
      { kind, ...(text ? { q: text } : {}), ...(state ? { state } : {}), sort, dir, offset, limit: PAGE },
      { placeholderData: keepPreviousData, refetchInterval: 10_000 },
    ),
  );
  const head = (label: string, key: Sort | null) => (
    <th className="px-3 py-2 text-left text-xs font-medium uppercase text-slate-500">
      {key ? (
        <button
          type="button"
          onClick={() => {
            if (sort === key) setDir(dir === "asc" ? "desc" : "asc");
            else {
              setSort(key);
              setDir(key === "created" || key === "size" ? "desc" : "asc");
            }
          }}
          aria-label={`Sort by ${label}`}
        >
          {label}
          {sort === key ? (dir === "asc" ? " ▲" : " ▼") : ""}
        </button>
      ) : (
        label
      )}
    </th>
  );
  const total = list.data?.total ?? 0;
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Fleet</h1>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        {KINDS.map((k) => (
          <button
            key={k}
            type="button"
            role="tab"
            aria-selected={kind === k}
            onClick={() => setKind(k)}
            className={`rounded px-3 py-1 capitalize ${kind === k ? "bg-slate-900 text-white" : "bg-white ring-1 ring-slate-300"}`}
          >
            {k}s
          </button>
        ))}
        <input
          aria-label="Filter by name or image"
          placeholder="Filter by name, image or id"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          className="ml-2 w-64 rounded border border-slate-300 px-2 py-1"
        />
        {kind === "container" && (
          <select
            aria-label="State"
            value={state}
            onChange={(e) => setState(e.target.value)}
            className="rounded border border-slate-300 px-2 py-1"
          >
            <option value="">any state</option>
            {["running", "exited", "created", "paused", "restarting"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        )}
      </div>
      <ErrorBox error={list.error} />
      {list.isPending ? (
        <Spinner />
      ) : (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="fleet-table" data-total={total}>
            <thead className="bg-slate-50">
              <tr>
                {head("Name", "name")}
                {head("Host", "host")}
                {head(kind === "container" ? "Image" : kind === "image" ? "Tags" : "Driver", null)}
                {kind === "container" && head("State", "state")}
                {kind === "image" && head("Size", "size")}
                {head("Created", "created")}
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {list.data?.rows.map((r) => (
                <tr key={`${r.hostId}/${r.id}`} data-testid="fleet-row" data-name={r.name}>
                  <td className="px-3 py-2 font-medium">
                    {kind === "container" ? (
                      <Link className="text-indigo-700 hover:underline" href={`/hosts/${r.hostId}/containers/${r.id}`}>
                        {r.name}
                      </Link>
                    ) : (
                      r.name
                    )}
                  </td>
                  <td className="px-3 py-2">
                    <Link className="hover:underline" href={`/hosts/${r.hostId}`}>
                      {r.hostName}
                    </Link>
                  </td>
                  <td className="max-w-xs truncate px-3 py-2 text-slate-600">{r.image}</td>
                  {kind === "container" && <td className="px-3 py-2">{r.state}</td>}
                  {kind === "image" && <td className="px-3 py-2">{formatBytes(r.size)}</td>}
                  <td className="px-3 py-2 text-slate-500">{formatAgo(r.created)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="flex items-center gap-3 text-sm text-slate-600">
        <Button variant="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Previous
        </Button>
        <span data-testid="fleet-range">
          {total === 0 ? "nothing" : `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total.toLocaleString()}`}
        </span>
        <Button variant="secondary" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
          Next
        </Button>
      </div>
    </div>
  );
}

export default function FleetPage() {
  return (
    <AppShell>
      <Fleet />
    </AppShell>
  );
}
