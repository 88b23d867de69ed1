"use client";
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { LogStreamData } from "@berth/protocol";
import { followStream, type FollowedStream, type FollowStatus } from "../client/streams";
import { Button } from "./ui";

/** Lines kept in the browser; beyond this the oldest go (the agent keeps the files). */
const MAX_LINES = 2_000_000;
const ROW_PX = 20;

interface Line {
  stderr: boolean;
  time: string;
  text: string;
  /** Which task wrote it (a service's merged log): "slot.task@host". */
  tag?: string;
}

/**
 * A container's log, or a service's: every task's log merged, each line tagged with its task and
 * host; or a stack's: every service's (or, on one host, every container's), tagged with the service too.
 */
export type LogSource =
  | { kind: "container"; hostId: string; containerId: string }
  | { kind: "service"; serviceId: string }
  | { kind: "stack"; stackId: string };

/** A service-logs message: one task's batch of lines. */
interface ServiceLogData extends LogStreamData {
  task: { id: string; slot: number; host: string; service?: string };
}

/** Where to resume: a container's last cursor, or each task's. */
type Resume = Map<string, string>;

function streamRequest(source: LogSource, resume: Resume, tail: string, sinceSeconds: number | undefined) {
  if (source.kind === "container") {
    const after = resume.get("");
    return {
      kind: "logs" as const,
      hostId: source.hostId,
      params: after
        ? { id: source.containerId, after }
        : { id: source.containerId, ...(tail ? { tail } : {}), ...(sinceSeconds ? { since: sinceSeconds } : {}) },
    };
  }
  const after = [...resume].map(([task, cursor]) => `${task}:${cursor}`).join(",");
  const which = source.kind === "service" ? { service: source.serviceId } : { stack: source.stackId };
  return {
    kind: "service-logs" as const,
    params: after ? { ...which, after } : { ...which, ...(tail ? { tail } : {}) },
  };
}

const TAILS = [
  { label: "last 100", value: "100" },
  { label: "last 1,000", value: "1000" },
  { label: "last 10,000", value: "10000" },
  { label: "everything", value: "" },
];
const SINCES = [
  { label: "any time", value: "" },
  { label: "5 minutes", value: "300" },
  { label: "1 hour", value: "3600" },
  { label: "24 hours", value: "86400" },
];

/**
 * A container's log (or a service's, merged across its tasks and hosts), followed live. Lines live in a plain array outside React state and only
 * the rows on screen are rendered, so a million lines stay responsive. A dropped connection
 * reconnects from the last line's cursor: no gap, no duplicate. Pause stops acknowledging, so
 * the agent stops reading until resume.
 */
export function LogViewer({ source }: { source: LogSource }) {
  const sourceKey =
    source.kind === "container" ? `${source.hostId}/${source.containerId}` : source.kind === "service" ? source.serviceId : source.stackId;
  const lines = useRef<Line[]>([]);
  const resume = useRef<Resume>(new Map());
  const [version, bump] = useReducer((x: number) => x + 1, 0);
  const [tail, setTail] = useState("1000");
  const [since, setSince] = useState("");
  const [filter, setFilter] = useState("");
  const [paused, setPaused] = useState(false);
  const [timestamps, setTimestamps] = useState(true);
  const [status, setStatus] = useState<FollowStatus>("connecting");
  const [error, setError] = useState<string | null>(null);
  const stream = useRef<FollowedStream | null>(null);
  const scroller = useRef<HTMLElement>(null);
  const stick = useRef(true);
  /** When the reader last scrolled by hand: only that stops following the end, never our own scrolling. */
  const userScrolledAt = useRef(0);

  // One frame's worth of arrivals is drawn at once.
  const frame = useRef(0);
  const schedule = useCallback(() => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      bump();
    });
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: sourceKey stands for the source (a new object each render)
  useEffect(() => {
    lines.current = [];
    resume.current = new Map();
    bump();
    // Each attempt resumes from the cursors of the lines already shown: no gap, no duplicate.
    const followed = followStream<LogStreamData | ServiceLogData>(
      () => ({
        ...streamRequest(source, resume.current, tail, since ? Math.floor(Date.now() / 1000) - Number(since) : undefined),
        window: 8,
        onData: (d) => {
          const arr = lines.current;
          const task = "task" in d ? d.task : undefined;
          const tag = task
            ? task.service
              ? `${task.service}.${task.slot || "·"}@${task.host}`
              : `${task.slot || "·"}.${task.id.slice(0, 8)}@${task.host}`
            : undefined;
          for (const [, s, time, text] of d.lines)
            arr.push({ stderr: s === "e", time, text: text.endsWith("\n") ? text.slice(0, -1) : text, ...(tag ? { tag } : {}) });
          if (d.lines.length) resume.current.set(task?.id ?? "", d.lines[d.lines.length - 1]![0]);
          if (arr.length > MAX_LINES) arr.splice(0, arr.length - MAX_LINES);
          schedule();
        },
      }),
      (next, err) => {
        setStatus(next);
        // A transient end is shown only as "reconnecting"; a final one says why.
        setError(next === "ended" ? err : null);
      },
    );
    stream.current = followed;
    return () => followed.close();
  }, [sourceKey, tail, since, schedule]);

  useEffect(() => {
    if (paused) stream.current?.pause();
    else stream.current?.resume();
  }, [paused]);

  // The rows shown: all lines, or the indexes of those matching the filter.
  const shown = useMemo(() => {
    void version;
    if (!filter) return null;
    const needle = filter.toLowerCase();
    const idx: number[] = [];
    const arr = lines.current;
    for (let i = 0; i < arr.length; i++) if (arr[i]!.text.toLowerCase().includes(needle)) idx.push(i);
    return idx;
  }, [filter, version]);
  const count = shown ? shown.length : lines.current.length;

  const virtualizer = useVirtualizer({ count, getScrollElement: () => scroller.current, estimateSize: () => ROW_PX, overscan: 30 });

  // Follow the end unless the reader scrolled up.
  // biome-ignore lint/correctness/useExhaustiveDependencies: version is the trigger: new lines re-follow the end even at MAX_LINES
  useEffect(() => {
    if (stick.current && count > 0) virtualizer.scrollToIndex(count - 1, { align: "end" });
  }, [count, version, virtualizer]);

  const download = () => {
    const text = lines.current.map((l) => `${timestamps ? `${l.time} ` : ""}${l.tag ? `${l.tag} ` : ""}${l.text}\n`).join("");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    a.download = `${source.kind === "container" ? source.containerId.slice(0, 12) : source.kind === "service" ? `service-${source.serviceId}` : `stack-${source.stackId}`}.log`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <select
          aria-label="Lines to load"
          value={tail}
          onChange={(e) => setTail(e.target.value)}
          className="rounded border border-slate-300 px-2 py-1"
        >
          {TAILS.map((t) => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </select>
        {source.kind === "container" && (
          <select
            aria-label="Since"
            value={since}
            onChange={(e) => setSince(e.target.value)}
            className="rounded border border-slate-300 px-2 py-1"
          >
            {SINCES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        )}
        <input
          aria-label="Filter lines"
          placeholder="Filter"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          className="w-48 rounded border border-slate-300 px-2 py-1"
        />
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> timestamps
        </label>
        <Button variant="secondary" onClick={() => setPaused((p) => !p)} data-testid="logs-pause">
          {paused ? "Resume" : "Pause"}
        </Button>
        <Button variant="secondary" onClick={download}>
          Download
        </Button>
        <span className="text-slate-500" data-testid="logs-status" data-status={paused ? "paused" : status}>
          {paused ? "paused" : status} · {lines.current.length.toLocaleString()} lines
          {shown ? ` · ${shown.length.toLocaleString()} match` : ""}
        </span>
      </div>
      {error && (
        <div role="alert" className="rounded border border-red-200 bg-red-50 p-2 text-sm text-red-800">
          {error}
        </div>
      )}
      <section
        ref={scroller}
        aria-label={source.kind === "container" ? "Container log" : "Service log"}
        onScroll={(e) => {
          const el = e.currentTarget;
          if (el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_PX * 2) stick.current = true;
          else if (Date.now() - userScrolledAt.current < 500) stick.current = false;
        }}
        onWheel={() => (userScrolledAt.current = Date.now())}
        onPointerDown={() => (userScrolledAt.current = Date.now())}
        onKeyDown={() => (userScrolledAt.current = Date.now())}
        onTouchMove={() => (userScrolledAt.current = Date.now())}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable so the keyboard can scroll it
        tabIndex={0}
        className="h-[28rem] overflow-auto rounded bg-slate-950 font-mono text-xs text-slate-100"
        data-testid={source.kind === "container" ? "container-logs" : source.kind === "stack" ? "stack-logs" : "service-logs"}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((row) => {
            const l = lines.current[shown ? shown[row.index]! : row.index];
            if (!l) return null;
            return (
              <div
                key={row.key}
                className={`absolute left-0 top-0 whitespace-pre px-3 leading-5 ${l.stderr ? "text-rose-300" : ""}`}
                style={{ transform: `translateY(${row.start}px)`, height: ROW_PX }}
                data-testid="log-line"
              >
                {timestamps && <span className="select-none text-slate-500">{l.time.slice(0, 23).replace("T", " ")} </span>}
                {l.tag && <span className="select-none text-sky-300">{l.tag} </span>}
                {l.text}
              </div>
            );
          })}
        </div>
        {count === 0 && <div className="p-3 text-slate-500">{status === "live" ? "No output yet." : "Connecting…"}</div>}
      </section>
    </div>
  );
}
