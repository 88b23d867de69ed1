"use client";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../src/components/ui";

function Registries() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.registries.list.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const isAdmin = me.data?.memberships.some((m) => m.role === "owner" || m.role === "admin") ?? false;
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.registries.list.queryKey() });
  const create = useMutation(trpc.registries.create.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.registries.remove.mutationOptions({ onSuccess: refresh }));
  const [formKey, setFormKey] = useState(0);

  function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    create.mutate(
      {
        address: String(f.get("address") ?? ""),
        insecure: f.get("insecure") === "on",
        username: String(f.get("username") ?? "") || null,
        password: String(f.get("password") ?? "") || null,
      },
      { onSuccess: () => setFormKey((k) => k + 1) },
    );
  }

  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Registries</h1>
      <p className="text-sm text-slate-600">
        Pulls and pushes on every host of your team use these settings for the registry an image names. Passwords are stored encrypted and
        sent only to agents. Registries on loopback (127.0.0.1, localhost) are plain HTTP without any setting, as in Docker.
      </p>
      <ErrorBox error={list.error ?? remove.error} />
      {list.isPending && <Spinner />}
      {list.data && list.data.length === 0 && (
        <p className="text-sm text-slate-500">No registries configured; public images pull anonymously.</p>
      )}
      {list.data && list.data.length > 0 && (
        <Card>
          <table className="min-w-full text-sm" data-testid="registries">
            <TableHead variant="card" columns={["Registry", "Transport", "User", ""]} />
            <tbody className="divide-y divide-slate-100">
              {list.data.map((r) => (
                <tr key={r.id} data-testid="registry-row">
                  <td className="py-1.5 pr-4 font-mono">{r.domain}</td>
                  <td className="py-1.5 pr-4">{r.insecure ? "HTTP (insecure)" : "HTTPS"}</td>
                  <td className="py-1.5 pr-4">{r.username ? `${r.username}${r.hasPassword ? " · password set" : ""}` : "anonymous"}</td>
                  <td className="py-1.5 text-right">
                    {isAdmin && (
                      <Button variant="secondary" onClick={() => confirm(`Remove ${r.domain}?`) && remove.mutate({ id: r.id })}>
                        Remove
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      {isAdmin && (
        <Card title="Add a registry">
          <form key={formKey} onSubmit={onSubmit} className="grid gap-3 text-sm md:grid-cols-2">
            <ErrorBox error={create.error} />
            <label className="md:col-span-2">
              Address
              <input
                name="address"
                required
                placeholder="ghcr.io or http://10.0.0.5:5000"
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono"
              />
            </label>
            <label>
              Username
              <input name="username" autoComplete="off" className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5" />
            </label>
            <label>
              Password or token
              <input
                name="password"
                type="password"
                autoComplete="new-password"
                className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5"
              />
            </label>
            <label className="flex items-center gap-2">
              <input name="insecure" type="checkbox" /> Plain HTTP (insecure registry)
            </label>
            <div className="md:col-span-2">
              <Button type="submit" disabled={create.isPending}>
                Add registry
              </Button>
            </div>
          </form>
        </Card>
      )}
    </div>
  );
}

export default function RegistriesPage() {
  return (
    <AppShell>
      <Registries />
    </AppShell>
  );
}
