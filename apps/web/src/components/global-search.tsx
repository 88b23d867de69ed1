"use client";
import { useEffect, useState } from "react";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";

/** One box for hosts, containers and images across the fleet (fleet.search on the server). */
export function GlobalSearch() {
  const trpc = useTRPC();
  const [q, setQ] = useState("");
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setText(q.trim()), 200);
    return () => clearTimeout(t);
  }, [q]);
  const found = useQuery(trpc.fleet.search.queryOptions({ q: text }, { enabled: text.length > 0 }));
  const d = found.data;
  const none = d && d.hosts.length + d.containers.length + d.images.length === 0;
  return (
    <search className="relative" onBlur={(e) => !e.currentTarget.contains(e.relatedTarget) && setOpen(false)}>
      <input
        type="search"
        aria-label="Search hosts, containers and images"
        placeholder="Search…"
        value={q}
        onChange={(e) => {
          setQ(e.target.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        className="w-56 rounded border border-slate-300 px-2 py-1 text-sm"
      />
      {open && text && d && (
        <div
          className="absolute right-0 z-20 mt-1 w-96 rounded-md bg-white p-2 text-sm shadow-lg ring-1 ring-slate-200"
          data-testid="search-results"
        >
          {none && <p className="p-2 text-slate-500">Nothing matches “{text}”.</p>}
          {d.hosts.length > 0 && <p className="px-2 pt-1 text-xs uppercase text-slate-400">Hosts</p>}
          {d.hosts.map((h) => (
            <Link key={h.id} href={`/hosts/${h.id}`} className="block rounded px-2 py-1 hover:bg-slate-100" onClick={() => setOpen(false)}>
              {h.name} <span className="text-slate-400">{h.status}</span>
            </Link>
          ))}
          {d.containers.length > 0 && <p className="px-2 pt-1 text-xs uppercase text-slate-400">Containers</p>}
          {d.containers.map((c) => (
            <Link
              key={`${c.hostId}/${c.id}`}
              href={`/hosts/${c.hostId}/containers/${c.id}`}
              className="block rounded px-2 py-1 hover:bg-slate-100"
              onClick={() => setOpen(false)}
            >
              {c.name}{" "}
              <span className="text-slate-400">
                on {c.hostName} · {c.state}
              </span>
            </Link>
          ))}
          {d.images.length > 0 && <p className="px-2 pt-1 text-xs uppercase text-slate-400">Images</p>}
          {d.images.map((i) => (
            <Link
              key={`${i.hostId}/${i.id}`}
              href={`/hosts/${i.hostId}/images`}
              className="block rounded px-2 py-1 hover:bg-slate-100"
              onClick={() => setOpen(false)}
            >
              {i.name} <span className="text-slate-400">on {i.hostName}</span>
            </Link>
          ))}
        </div>
      )}
    </search>
  );
}
