"use client";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { bytesToBase64 } from "../../src/client/base64";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { formatAgo, formatBytes } from "../../src/components/format";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../src/components/ui";

type Kind = "secret" | "config";

/** UTF-8 text or a file's bytes as base64 (what the API takes). */
async function base64Of(text: string, file: File | null): Promise<string> {
  return bytesToBase64(file && file.size > 0 ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(text));
}

/**
 * Secrets and configs: data services give their tasks as files. A secret's value goes in once and
 * is never shown again (it is stored encrypted); a config's can be read back.
 */
function ServiceFiles() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const secrets = useQuery(trpc.secrets.list.queryOptions());
  const configs = useQuery(trpc.configs.list.queryOptions());
  const teams = useQuery(trpc.auth.teams.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const canChange = me.data?.memberships.some((m) => m.role !== "viewer") ?? false;
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.secrets.list.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.configs.list.queryKey() }),
    ]);
  const createSecret = useMutation(trpc.secrets.create.mutationOptions({ onSuccess: refresh }));
  const createConfig = useMutation(trpc.configs.create.mutationOptions({ onSuccess: refresh }));
  const removeSecret = useMutation(trpc.secrets.remove.mutationOptions({ onSuccess: refresh }));
  const removeConfig = useMutation(trpc.configs.remove.mutationOptions({ onSuccess: refresh }));
  const [kind, setKind] = useState<Kind>("secret");
  const [shown, setShown] = useState<string | null>(null);
  const [formKey, setFormKey] = useState(0);
  const create = kind === "secret" ? createSecret : createConfig;

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const teamId = teams.data?.[0]?.id;
    if (!teamId) return;
    const file = f.get("file");
    const data = await base64Of(String(f.get("value") ?? ""), file instanceof File ? file : null);
    create.mutate({ teamId, name: String(f.get("name") ?? ""), data }, { onSuccess: () => setFormKey((k) => k + 1) });
  }

  const table = (k: Kind, rows: typeof secrets.data) =>
    rows && rows.length > 0 ? (
      <table className="min-w-full text-sm" data-testid={`${k}s`}>
        <TableHead variant="card" columns={["Name", "Size", "Labels", "Created", ""]} />
        <tbody className="divide-y divide-slate-100">
          {rows.map((r) => (
            <tr key={r.id} data-testid={`${k}-row`}>
              <td className="py-1.5 pr-4 font-mono">
                {r.name}
                {k === "config" && shown === r.id && r.data !== null && (
                  <pre className="mt-1 max-h-40 overflow-auto rounded bg-slate-50 p-2 text-xs" data-testid="config-data">
                    {new TextDecoder().decode(Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)))}
                  </pre>
                )}
              </td>
              <td className="py-1.5 pr-4">{formatBytes(r.size)}</td>
              <td className="py-1.5 pr-4 font-mono text-xs">
                {Object.entries(r.labels)
                  .map(([key, v]) => `${key}=${v}`)
                  .join(", ")}
              </td>
              <td className="py-1.5 pr-4">{formatAgo(r.createdAt)}</td>
              <td className="space-x-2 py-1.5 text-right">
                {k === "config" && (
                  <Button variant="secondary" onClick={() => setShown(shown === r.id ? null : r.id)}>
                    {shown === r.id ? "Hide" : "Show"}
                  </Button>
                )}
                {canChange && (
                  <Button
                    variant="secondary"
                    onClick={() => confirm(`Remove ${k} ${r.name}?`) && (k === "secret" ? removeSecret : removeConfig).mutate({ id: r.id })}
                  >
                    Remove
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : (
      <p className="text-sm text-slate-500">No {k}s yet.</p>
    );

  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Secrets and configs</h1>
      <p className="text-sm text-slate-600">
        A service's tasks get these as read-only files: a secret at <span className="font-mono">/run/secrets/&lt;name&gt;</span>, a config
        at <span className="font-mono">/&lt;name&gt;</span> (or where the service says). Secrets are stored encrypted, sent only to the
        hosts that run their tasks, kept there in memory, and never shown again. Up to 500 KiB each.
      </p>
      <ErrorBox error={secrets.error ?? configs.error ?? removeSecret.error ?? removeConfig.error} />
      {(secrets.isPending || configs.isPending) && <Spinner />}
      <Card title="Secrets">{table("secret", secrets.data)}</Card>
      <Card title="Configs">{table("config", configs.data)}</Card>
      {canChange && (
        <Card title="Add a secret or config">
          <form key={formKey} onSubmit={(e) => void onSubmit(e)} className="grid gap-3 text-sm md:grid-cols-2">
            <ErrorBox error={create.error} />
            <label>
              Kind
              <select
                aria-label="Kind"
                value={kind}
                onChange={(e) => setKind(e.target.value as Kind)}
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5"
              >
                <option value="secret">secret</option>
                <option value="config">config</option>
              </select>
            </label>
            <label>
              Name
              <input
                name="name"
                required
                aria-label="Name"
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono"
              />
            </label>
            <label className="md:col-span-2">
              Value
              <textarea
                name="value"
                aria-label="Value"
                rows={4}
                autoComplete="off"
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono"
              />
            </label>
            <label className="md:col-span-2">
              Or a file
              <input name="file" type="file" aria-label="File" className="mt-1 block w-full text-sm" />
            </label>
            <div className="md:col-span-2">
              <Button type="submit" disabled={create.isPending}>
                Add {kind}
              </Button>
            </div>
          </form>
        </Card>
      )}
    </div>
  );
}

export default function SecretsPage() {
  return (
    <AppShell>
      <ServiceFiles />
    </AppShell>
  );
}
