"use client";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";

/** Whether the signed-in user may change services (operator or above in a team). */
export function useCanOperate(): boolean {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  return me.data?.memberships.some((m) => m.role !== "viewer") ?? false;
}

const UPDATE_STYLES: Record<string, string> = {
  updating: "bg-sky-100 text-sky-800",
  completed: "bg-emerald-100 text-emerald-800",
  paused: "bg-amber-100 text-amber-800",
  rollback_started: "bg-amber-100 text-amber-800",
  rollback_paused: "bg-red-100 text-red-800",
  rollback_completed: "bg-slate-100 text-slate-700",
};

/** Swarm's update states, as a badge; nothing before the first update. */
export function UpdateStateBadge({ state }: { state: string | null }) {
  if (!state) return <span className="text-slate-400">—</span>;
  return (
    <span
      data-testid="update-state"
      data-state={state}
      className={`rounded-full px-2 py-0.5 text-xs font-medium ${UPDATE_STYLES[state] ?? ""}`}
    >
      {state.replace("_", " ")}
    </span>
  );
}

const TASK_STYLES: Record<string, string> = {
  running: "bg-emerald-100 text-emerald-800",
  starting: "bg-sky-100 text-sky-800",
  assigned: "bg-sky-100 text-sky-800",
  pending: "bg-amber-100 text-amber-800",
  failed: "bg-red-100 text-red-800",
  rejected: "bg-red-100 text-red-800",
  orphaned: "bg-red-100 text-red-800",
};

export function TaskStateBadge({ state }: { state: string }) {
  return (
    <span
      data-testid="task-state"
      data-state={state}
      className={`rounded-full px-2 py-0.5 text-xs font-medium ${TASK_STYLES[state] ?? "bg-slate-100 text-slate-600"}`}
    >
      {state}
    </span>
  );
}
