"use client";
import { useId, type ButtonHTMLAttributes, type ReactNode } from "react";

export function Button({
  variant = "primary",
  className = "",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: "primary" | "secondary" | "danger" }) {
  const styles = {
    primary: "bg-indigo-600 text-white hover:bg-indigo-500 disabled:bg-indigo-300",
    secondary: "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50 disabled:text-slate-400",
    danger: "bg-red-600 text-white hover:bg-red-500 disabled:bg-red-300",
  }[variant];
  return <button className={`rounded-md px-3 py-1.5 text-sm font-medium shadow-sm ${styles} ${className}`} {...props} />;
}

export function StatusBadge({ status }: { status: "online" | "offline" | "pending" }) {
  const styles = {
    online: "bg-emerald-100 text-emerald-800 ring-emerald-600/20",
    offline: "bg-slate-100 text-slate-600 ring-slate-500/20",
    pending: "bg-amber-100 text-amber-800 ring-amber-600/20",
  }[status];
  const dot = { online: "bg-emerald-500", offline: "bg-slate-400", pending: "bg-amber-500" }[status];
  return (
    <span
      data-testid="host-status"
      data-status={status}
      className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${styles}`}
    >
      <span className={`h-1.5 w-1.5 rounded-full ${dot}`} />
      {status}
    </span>
  );
}

export function ErrorBox({ error, onRetry }: { error: { message: string } | null; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div role="alert" data-testid="error" className="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">
      {error.message}
      {onRetry && (
        <button type="button" className="ml-3 underline" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-2 p-6 text-sm text-slate-500">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-600" />
      {label}
    </div>
  );
}

export function Card({ title, children, actions }: { title?: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
      {title && (
        <header className="flex items-center justify-between border-b border-slate-100 px-4 py-3">
          <h2 className="text-sm font-semibold text-slate-700">{title}</h2>
          {actions}
        </header>
      )}
      <div className="p-4">{children}</div>
    </section>
  );
}

/** A modal with a title and a Close button at the bottom. */
export function Dialog({
  title,
  width = "max-w-xl",
  onClose,
  children,
}: {
  title: string;
  width?: string;
  onClose(): void;
  children: ReactNode;
}) {
  const titleId = useId();
  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-labelledby={titleId}
      className="fixed inset-0 z-10 flex items-center justify-center bg-slate-900/40 px-4"
    >
      <div className={`w-full ${width} space-y-4 rounded-lg bg-white p-6 shadow-xl`}>
        <h2 id={titleId} className="text-lg font-semibold">
          {title}
        </h2>
        {children}
        <div className="flex justify-end">
          <Button variant="secondary" onClick={onClose}>
            Close
          </Button>
        </div>
      </div>
    </div>
  );
}

/**
 * A table's header row. "page" tables are full-width lists with a shaded header; "card" tables
 * sit inside a Card. An empty label leaves room for a row's action buttons.
 */
export function TableHead({ columns, variant }: { columns: string[]; variant: "page" | "card" }) {
  const head =
    variant === "page"
      ? "bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-500"
      : "text-left text-xs uppercase tracking-wide text-slate-500";
  const cell = variant === "page" ? "px-4 py-2" : "py-1 pr-4";
  return (
    <thead className={head}>
      <tr>
        {columns.map((c, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a fixed header row: a column's place is its identity, and empty labels repeat
          <th key={i} className={c ? cell : undefined}>
            {c || null}
          </th>
        ))}
      </tr>
    </thead>
  );
}
