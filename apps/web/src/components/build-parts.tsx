"use client";

const STYLES: Record<string, string> = {
  queued: "bg-slate-100 text-slate-700",
  running: "bg-amber-100 text-amber-800",
  succeeded: "bg-emerald-100 text-emerald-800",
  failed: "bg-red-100 text-red-800",
  cancelled: "bg-slate-100 text-slate-500",
};

export function BuildStatusBadge({ status }: { status: string }) {
  return (
    <span
      data-testid="build-status"
      data-status={status}
      className={`rounded-full px-2 py-0.5 text-xs font-medium ${STYLES[status] ?? ""}`}
    >
      {status}
    </span>
  );
}

/** Where a build's context came from, in one line. */
export function buildSource(b: {
  sourceKind: string;
  gitUrl: string | null;
  gitRef: string | null;
  gitPath: string | null;
  gitCommit: string | null;
}): string {
  if (b.sourceKind === "stack") return "a stack's files";
  if (b.sourceKind !== "git") return "uploaded files";
  return `${b.gitUrl}${b.gitPath ? `//${b.gitPath}` : ""}@${b.gitRef}${b.gitCommit ? ` (${b.gitCommit.slice(0, 10)})` : ""}`;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
