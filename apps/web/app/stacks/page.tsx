"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { ComposeEditor, parseEnvLines } from "../../src/components/stack-editor";
import { DeployOutcomeBadge } from "../../src/components/stack-parts";
import { EMPTY_GIT, GitSourceFields, type GitSourceInput } from "../../src/components/stack-git";
import { Button, Dialog, ErrorBox, Spinner, TableHead } from "../../src/components/ui";
import { useCanOperate } from "../../src/components/service-parts";
import { formatAgo } from "../../src/components/format";

const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm";

const EXAMPLE = `services:
  web:
    image: nginx
    deploy:
      replicas: 2
`;

/** A new stack: a name, its compose file (checked as typed) or a git repository, and env values; deployed to the fleet at once. */
function CreateStackDialog({ onClose, onCreated }: { onClose(): void; onCreated(id: string): void }) {
  const trpc = useTRPC();
  const teams = useQuery(trpc.auth.teams.queryOptions());
  const [name, setName] = useState("");
  const [text, setText] = useState(EXAMPLE);
  const [kind, setKind] = useState<"inline" | "git">("inline");
  const [git, setGit] = useState<GitSourceInput>(EMPTY_GIT);
  const [target, setTarget] = useState<"fleet" | "host">("fleet");
  const [hostId, setHostId] = useState("");
  const hosts = useQuery(trpc.hosts.list.queryOptions(undefined, { enabled: target === "host" }));
  const [envText, setEnvText] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const { env, bad } = parseEnvLines(envText);
  const create = useMutation(trpc.stacks.create.mutationOptions({ onSuccess: (r) => onCreated(r.stack.id) }));
  return (
    <Dialog title="Create a stack" width="max-w-3xl" onClose={onClose}>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          setFormError(null);
          const teamId = teams.data?.[0]?.id;
          if (!teamId) return setFormError("You belong to no team.");
          if (bad.length) return setFormError(`Env lines are KEY=value: ${bad.join(", ")}`);
          if (target === "host" && !hostId) return setFormError("Choose the host the stack runs on.");
          create.mutate({
            teamId,
            name: name.trim(),
            target,
            ...(target === "host" ? { hostId } : {}),
            ...(kind === "git"
              ? { git: { ...git, url: git.url.trim(), profiles: [] } }
              : { source: { files: { "compose.yaml": text }, composeFiles: ["compose.yaml"], profiles: [] } }),
            env,
          });
        }}
      >
        <label className="block text-sm">
          Name
          <input aria-label="Stack name" className={input} value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <div className="flex items-center gap-4 text-sm" role="radiogroup" aria-label="Target">
          <label>
            <input type="radio" name="target" checked={target === "fleet"} onChange={() => setTarget("fleet")} /> Services across the fleet
          </label>
          <label>
            <input type="radio" name="target" checked={target === "host"} onChange={() => setTarget("host")} /> Containers on one host
          </label>
          {target === "host" && (
            <select
              aria-label="Host"
              className="rounded-md border border-slate-300 px-2 py-1"
              value={hostId}
              onChange={(e) => setHostId(e.target.value)}
            >
              <option value="">Choose a host…</option>
              {(hosts.data ?? []).map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))}
            </select>
          )}
        </div>
        <div className="flex gap-4 text-sm" role="radiogroup" aria-label="Source">
          <label>
            <input type="radio" name="kind" checked={kind === "inline"} onChange={() => setKind("inline")} /> Write it here
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === "git"} onChange={() => setKind("git")} /> From a git repository
          </label>
        </div>
        {kind === "inline" ? (
          <div className="text-sm">
            Compose file
            <ComposeEditor value={text} onChange={setText} envNames={Object.keys(env)} />
          </div>
        ) : (
          <GitSourceFields value={git} onChange={setGit} />
        )}
        <label className="block text-sm">
          Env values (KEY=value per line; stored sealed, never shown again)
          <textarea aria-label="Env values" className={`${input} h-20`} value={envText} onChange={(e) => setEnvText(e.target.value)} />
        </label>
        {formError && <p className="text-sm text-red-700">{formError}</p>}
        {create.isError && <ErrorBox error={create.error} />}
        <Button type="submit" disabled={create.isPending}>
          {create.isPending ? "Deploying…" : "Create and deploy"}
        </Button>
      </form>
    </Dialog>
  );
}

/**
 * Stacks deployed elsewhere: compose projects on the team's hosts and `docker stack deploy`
 * namespaces on the fleet. A host project can be adopted into a stack Berth keeps, fully editable.
 */
function FoundStacks({ onAdopted }: { onAdopted(id: string): void }) {
  const trpc = useTRPC();
  const canOperate = useCanOperate();
  // Each look asks every linked host for its containers: not too often.
  const found = useQuery(trpc.stacks.found.queryOptions(undefined, { refetchInterval: 30_000 }));
  const adopt = useMutation(trpc.stacks.adopt.mutationOptions({ onSuccess: (s) => onAdopted(s.id) }));
  if (!found.data || found.data.length === 0) return null;
  return (
    <div className="space-y-2" data-testid="found-stacks">
      <h2 className="text-lg font-semibold">Deployed elsewhere</h2>
      <p className="text-sm text-slate-500">
        Started with docker-compose on a host, or with docker stack deploy on the fleet endpoint. Adopt one to deploy, edit and roll it back
        here.
      </p>
      {adopt.isError && <ErrorBox error={adopt.error} />}
      <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <TableHead variant="page" columns={["Name", "Where", "Services", ""]} />
          <tbody className="divide-y divide-slate-100">
            {found.data.map((f) => (
              <tr key={`${f.kind}/${f.hostId ?? ""}/${f.name}`} data-testid="found-stack" data-name={f.name}>
                <td className="px-4 py-2 font-medium">{f.name}</td>
                <td className="px-4 py-2">{f.kind === "host" ? `docker-compose on ${f.hostName}` : "docker stack deploy (fleet)"}</td>
                <td className="px-4 py-2">{f.services.join(", ")}</td>
                <td className="px-4 py-2">
                  {canOperate && (
                    <Button
                      variant="secondary"
                      disabled={adopt.isPending}
                      onClick={() => adopt.mutate({ teamId: f.teamId, ...(f.hostId ? { hostId: f.hostId } : {}), name: f.name })}
                    >
                      Adopt
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function StacksTable() {
  const trpc = useTRPC();
  const router = useRouter();
  const [creating, setCreating] = useState(false);
  const stacks = useQuery(trpc.stacks.list.queryOptions(undefined, { refetchInterval: 5_000 }));
  const canOperate = useCanOperate();
  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-2xl font-semibold">Stacks</h1>
        {canOperate && <Button onClick={() => setCreating(true)}>Create stack</Button>}
      </div>
      {stacks.isPending && <Spinner label="Loading stacks…" />}
      {stacks.isError && <ErrorBox error={stacks.error} onRetry={() => void stacks.refetch()} />}
      {stacks.data && stacks.data.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center">
          <p className="font-medium">No stacks yet</p>
          <p className="mt-1 text-sm text-slate-500">A stack is a compose application, deployed as services across your hosts.</p>
        </div>
      )}
      {stacks.data && stacks.data.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Name", "Target", "Source", "Last deploy", "By", "When"]} />
            <tbody className="divide-y divide-slate-100">
              {stacks.data.map((s) => (
                <tr key={s.id} data-testid="stack-row" data-name={s.name} className="hover:bg-slate-50">
                  <td className="px-4 py-2 font-medium">
                    <Link className="text-indigo-700 hover:underline" href={`/stacks/${s.id}`}>
                      {s.name}
                    </Link>
                  </td>
                  <td className="px-4 py-2">{s.target === "host" ? "one host" : "fleet"}</td>
                  <td className="px-4 py-2">{s.git ? `git · ${s.git.ref}` : "editor"}</td>
                  <td className="px-4 py-2">{s.lastDeploy ? <DeployOutcomeBadge outcome={s.lastDeploy.outcome} /> : "never"}</td>
                  <td className="px-4 py-2">{s.lastDeploy?.createdByName ?? ""}</td>
                  <td className="px-4 py-2">{s.lastDeploy ? formatAgo(s.lastDeploy.startedAt) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <FoundStacks onAdopted={(id) => router.push(`/stacks/${id}`)} />
      {creating && <CreateStackDialog onClose={() => setCreating(false)} onCreated={(id) => router.push(`/stacks/${id}`)} />}
    </div>
  );
}

export default function StacksPage() {
  return (
    <AppShell>
      <StacksTable />
    </AppShell>
  );
}
