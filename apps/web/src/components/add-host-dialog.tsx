"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";

const EXPIRY = [
  { label: "1 hour", seconds: 3600 },
  { label: "24 hours", seconds: 86400 },
  { label: "7 days", seconds: 7 * 86400 },
  { label: "Never", seconds: null },
] as const;

/** Creates a join token and shows the one-line install command for a new server. */
export function AddHostDialog({ onClose }: { onClose(): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [expiry, setExpiry] = useState<number | null>(86400);
  const [maxUses, setMaxUses] = useState<string>("1");
  const [copied, setCopied] = useState(false);
  const create = useMutation(
    trpc.joinTokens.create.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.joinTokens.list.queryKey() }),
    }),
  );

  return (
    <Dialog title="Add a host" width="max-w-2xl" onClose={onClose}>
      <p className="text-sm text-slate-600">
        Run this as root on a Debian or Ubuntu server. It installs the agent&apos;s dependencies, downloads the agent, sets up a systemd
        unit and joins this control plane.
      </p>
      <ErrorBox error={create.error} />
      {!create.data ? (
        <div className="flex flex-wrap items-end gap-4 text-sm">
          <label>
            Token expires in
            <select
              value={String(expiry)}
              onChange={(e) => setExpiry(e.target.value === "null" ? null : Number(e.target.value))}
              className="mt-1 block rounded-md border border-slate-300 px-2 py-1.5"
            >
              {EXPIRY.map((o) => (
                <option key={o.label} value={String(o.seconds)}>
                  {o.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Uses
            <input
              value={maxUses}
              onChange={(e) => setMaxUses(e.target.value)}
              placeholder="unlimited"
              inputMode="numeric"
              className="mt-1 block w-28 rounded-md border border-slate-300 px-2 py-1.5"
            />
          </label>
          <Button
            disabled={create.isPending}
            onClick={() =>
              create.mutate({ expiresInSeconds: expiry, maxUses: maxUses.trim() === "" ? null : Number(maxUses), description: "" })
            }
          >
            {create.isPending ? "Creating…" : "Create install command"}
          </Button>
        </div>
      ) : (
        <div className="space-y-2">
          <pre
            data-testid="install-command"
            className="overflow-x-auto rounded-md bg-slate-900 p-3 text-xs text-emerald-200 whitespace-pre-wrap break-all"
          >
            {create.data.command}
          </pre>
          <div className="flex items-center gap-3 text-sm">
            <Button
              variant="secondary"
              onClick={() => {
                void navigator.clipboard?.writeText(create.data.command).then(() => setCopied(true));
              }}
            >
              {copied ? "Copied" : "Copy"}
            </Button>
            <span className="text-slate-500">The token is shown only once. The new host appears in the list when it connects.</span>
          </div>
        </div>
      )}
    </Dialog>
  );
}
