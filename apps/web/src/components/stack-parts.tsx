"use client";

const OUTCOME_STYLES: Record<string, string> = {
  running: "bg-sky-100 text-sky-800",
  succeeded: "bg-emerald-100 text-emerald-800",
  failed: "bg-red-100 text-red-800",
};

/** How a stack deploy ended (or that it is running). */
export function DeployOutcomeBadge({ outcome }: { outcome: string }) {
  return (
    <span data-testid="deploy-outcome" className={`rounded px-2 py-0.5 text-xs font-medium ${OUTCOME_STYLES[outcome] ?? "bg-slate-100"}`}>
      {outcome}
    </span>
  );
}

/** What a deploy changed, in a line: "created a, b · updated c · 2 unchanged · removed d". */
export function deploySummary(s: Partial<Record<"built" | "created" | "updated" | "unchanged" | "removed" | "stopped", string[]>>): string {
  const parts: string[] = [];
  if (s.built?.length) parts.push(`built ${s.built.join(", ")}`);
  if (s.created?.length) parts.push(`created ${s.created.join(", ")}`);
  if (s.updated?.length) parts.push(`updated ${s.updated.join(", ")}`);
  if (s.unchanged?.length) parts.push(`${s.unchanged.length} unchanged`);
  if (s.removed?.length) parts.push(`removed ${s.removed.join(", ")}`);
  if (s.stopped?.length) parts.push(`stopped ${s.stopped.join(", ")}`);
  return parts.join(" · ") || "nothing changed";
}
