"use client";
import Link from "next/link";
import { use, useEffect, useRef, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../src/client/trpc";
import { openStream } from "../../../src/client/streams";
import { AppShell } from "../../../src/components/app-shell";
import { BuildStatusBadge, buildSource, formatDuration } from "../../../src/components/build-parts";
import { Button, Card, ErrorBox, Spinner } from "../../../src/components/ui";

/** Characters of log kept on the page; the whole log stays on the server. */
const MAX_LOG_CHARS = 8 * 1024 * 1024;

interface Piece {
  seq: number;
  text: string;
}

/**
 * One build: what it was asked, how it went, and its log, live while it runs. The log stream
 * resumes after the last piece shown when it drops (a reload, a network hiccup).
 */
function BuildPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const build = useQuery(trpc.builds.get.queryOptions({ id }, { refetchInterval: (q) => (q.state.data?.finishedAt ? false : 2_000) }));
  const me = useQuery(trpc.auth.me.queryOptions());
  const cancel = useMutation(trpc.builds.cancel.mutationOptions());
  const [log, setLog] = useState("");
  const [streamError, setStreamError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const last = useRef(0);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    let closed = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stream: ReturnType<typeof openStream> | undefined;
    const open = () => {
      stream = openStream<{ pieces: Piece[]; status: string }>({
        kind: "build-logs",
        params: { build: id, after: last.current },
        onOpen: () => setLive(true),
        onData: (d) => {
          last.current = d.pieces[d.pieces.length - 1]?.seq ?? last.current;
          const text = d.pieces.map((p) => p.text).join("");
          setLog((prev) => (prev.length + text.length > MAX_LOG_CHARS ? (prev + text).slice(-MAX_LOG_CHARS) : prev + text));
        },
        onEnd: (error) => {
          setLive(false);
          void queryClient.invalidateQueries({ queryKey: trpc.builds.get.queryKey({ id }) });
          if (closed) return;
          if (error) {
            setStreamError(error.message);
            retry = setTimeout(open, 2_000);
          }
        },
      });
    };
    open();
    return () => {
      closed = true;
      clearTimeout(retry);
      stream?.close();
    };
  }, [id, queryClient, trpc]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: runs as the log grows, to keep a reader at its end in view
  useEffect(() => {
    const el = pre.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [log]);

  const b = build.data;
  const canCancel =
    b &&
    (b.status === "running" || b.status === "queued") &&
    me.data?.memberships.some((m) => m.teamId === b.teamId && m.role !== "viewer");
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <Link href="/builds" className="text-sm text-indigo-700 hover:underline">
          ← Builds
        </Link>
        <h1 className="text-2xl font-semibold">Build {id.slice(-8)}</h1>
        {b && <BuildStatusBadge status={b.status} />}
        {canCancel && (
          <Button variant="danger" className="ml-auto" disabled={cancel.isPending} onClick={() => cancel.mutate({ id })}>
            Cancel
          </Button>
        )}
      </div>
      <ErrorBox error={build.error ?? cancel.error} />
      {build.isPending && <Spinner />}
      {b && (
        <Card>
          <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm md:grid-cols-4" data-testid="build-details">
            <dt className="text-slate-500">Host</dt>
            <dd>
              {b.hostId ? (
                <Link href={`/hosts/${b.hostId}/images`} className="text-indigo-700 hover:underline">
                  {b.hostName}
                </Link>
              ) : (
                b.hostName
              )}
            </dd>
            <dt className="text-slate-500">Source</dt>
            <dd className="font-mono text-xs">{buildSource(b)}</dd>
            <dt className="text-slate-500">Tags</dt>
            <dd className="font-mono text-xs">{b.tags.join(", ") || "—"}</dd>
            <dt className="text-slate-500">Image</dt>
            <dd className="font-mono text-xs" data-testid="build-image">
              {b.imageId ? b.imageId.slice(7, 19) : "—"}
            </dd>
            <dt className="text-slate-500">By</dt>
            <dd>{b.createdByName}</dd>
            <dt className="text-slate-500">Took</dt>
            <dd>{formatDuration(b.durationMs)}</dd>
          </dl>
          {b.error && <p className="mt-3 text-sm text-red-700">{b.error}</p>}
        </Card>
      )}
      <Card title={live ? "Log (live)" : "Log"}>
        {streamError && <p className="mb-2 text-xs text-amber-700">{streamError}; reconnecting…</p>}
        <pre
          ref={pre}
          data-testid="build-log"
          className="max-h-[32rem] overflow-auto whitespace-pre-wrap rounded bg-slate-900 p-3 font-mono text-xs text-slate-100"
        >
          {log || "…"}
        </pre>
      </Card>
    </div>
  );
}

export default function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <BuildPage id={id} />
    </AppShell>
  );
}
