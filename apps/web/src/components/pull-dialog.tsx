"use client";
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";
import { formatBytes } from "./format";

type LayerState = { status: string; current: number; total: number };

/** A v4 UUID; crypto.randomUUID exists only on https and localhost pages, getRandomValues everywhere. */
function randomUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Pulls an image on a host with a live progress bar fed by the agent's per-layer progress. */
export function PullDialog({ hostId, onClose }: { hostId: string; onClose(): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reference, setReference] = useState("");
  const [started, setStarted] = useState<string | null>(null);
  const [layers, setLayers] = useState<Record<string, LayerState>>({});
  const [done, setDone] = useState<{ repoTags: string[]; id: string } | null>(null);

  // The pull is a mutation; its live progress comes from a subscription to an id picked here.
  const [progressId, setProgressId] = useState<string | null>(null);
  const pull = useMutation(
    trpc.images.pull.mutationOptions({
      onSuccess: (image) => {
        setDone(image);
        void queryClient.invalidateQueries({ queryKey: trpc.images.list.queryKey({ hostId }) });
      },
    }),
  );
  useSubscription(
    trpc.images.pullProgress.subscriptionOptions(
      { hostId, progressId: progressId ?? "" },
      {
        enabled: progressId !== null && done === null,
        onData: (ev) => {
          if (ev.done) return;
          const p = ev.progress as { id?: string; status?: string; current?: number; total?: number };
          if (!p.id) return;
          setLayers((prev) => {
            const old = prev[p.id!] ?? { status: "", current: 0, total: 0 };
            const complete =
              p.status === "Pull complete" ||
              p.status === "Already exists" ||
              p.status === "Download complete" ||
              p.status === "Extracting";
            return {
              ...prev,
              [p.id!]: {
                status: p.status ?? old.status,
                current: complete ? Math.max(old.total, old.current) : (p.current ?? old.current),
                total: p.total ?? old.total,
              },
            };
          });
        },
      },
    ),
  );
  const total = Object.values(layers).reduce((a, l) => a + l.total, 0);
  const current = Object.values(layers).reduce((a, l) => a + Math.min(l.current, l.total), 0);
  const pct = done ? 100 : total > 0 ? Math.floor((current / total) * 100) : 0;
  const failed = pull.error;

  return (
    <Dialog title="Pull an image" width="max-w-xl" onClose={onClose}>
      <form
        className="flex gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (!reference.trim()) return;
          setLayers({});
          setDone(null);
          const id = randomUuid();
          setProgressId(id);
          setStarted(reference.trim());
          pull.mutate({ hostId, reference: reference.trim(), progressId: id });
        }}
      >
        <input
          aria-label="Image reference"
          value={reference}
          onChange={(e) => setReference(e.target.value)}
          placeholder="busybox:latest or 127.0.0.1:5000/app:v1"
          className="flex-1 rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm"
        />
        <Button type="submit" disabled={pull.isPending}>
          Pull
        </Button>
      </form>
      <ErrorBox error={failed} />
      {started && (
        <div className="space-y-2">
          <div
            className="h-2 w-full overflow-hidden rounded bg-slate-100"
            role="progressbar"
            aria-valuenow={pct}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-label="Pull progress"
          >
            <div className="h-full bg-indigo-600 transition-all" style={{ width: `${pct}%` }} />
          </div>
          <ul className="space-y-0.5 font-mono text-xs text-slate-600">
            {Object.entries(layers).map(([id, l]) => (
              <li key={id}>
                {id}: {l.status}
                {l.status === "Downloading" ? ` ${formatBytes(l.current)} / ${formatBytes(l.total)}` : ""}
              </li>
            ))}
          </ul>
          {done && (
            <p className="text-sm text-emerald-700" data-testid="pull-done">
              Pulled {done.repoTags[0] ?? done.id.slice(7, 19)}
            </p>
          )}
        </div>
      )}
    </Dialog>
  );
}
