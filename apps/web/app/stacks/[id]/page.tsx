"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { use, useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../src/client/trpc";
import { AppShell } from "../../../src/components/app-shell";
import { ComposeEditor, parseEnvLines } from "../../../src/components/stack-editor";
import { DeployOutcomeBadge, deploySummary } from "../../../src/components/stack-parts";
import { GitSourceCard } from "../../../src/components/stack-git";
import { LogViewer } from "../../../src/components/log-viewer";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../../src/components/ui";
import { UpdateStateBadge, useCanOperate } from "../../../src/components/service-parts";
import { formatAgo } from "../../../src/components/format";

const STACK_LABEL = "com.docker.stack.namespace";
const PROJECT_LABEL = "com.docker.compose.project";
const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm";

function StackPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const canOperate = useCanOperate();
  const stack = useQuery(trpc.stacks.get.queryOptions({ id }));
  const history = useQuery(trpc.stacks.history.queryOptions({ id }, { refetchInterval: 5_000 }));
  const services = useQuery(trpc.services.list.queryOptions(undefined, { refetchInterval: 2_000 }));
  const hostId = stack.data?.hostId ?? "";
  const containers = useQuery(trpc.containers.list.queryOptions({ hostId, all: true }, { enabled: hostId !== "", refetchInterval: 2_000 }));
  const [text, setText] = useState<string | null>(null);
  const [newEnv, setNewEnv] = useState("");
  const [removeEnv, setRemoveEnv] = useState<string[]>([]);
  const mainFile = stack.data?.source.composeFiles[0] ?? "compose.yaml";
  useEffect(() => {
    if (stack.data && text === null) setText(stack.data.source.files[mainFile] ?? "");
  }, [stack.data, text, mainFile]);

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.stacks.get.queryKey({ id }) });
    void queryClient.invalidateQueries({ queryKey: trpc.stacks.history.queryKey({ id }) });
    void queryClient.invalidateQueries({ queryKey: trpc.services.list.queryKey() });
  };
  const update = useMutation(
    trpc.stacks.update.mutationOptions({
      onSuccess: () => {
        setNewEnv("");
        setRemoveEnv([]);
        refresh();
      },
      onSettled: refresh,
    }),
  );
  const redeploy = useMutation(trpc.stacks.deploy.mutationOptions({ onSettled: refresh }));
  const stop = useMutation(trpc.stacks.stop.mutationOptions({ onSettled: refresh }));
  // A rollback changes the source: the editor shows the one now current.
  const rollback = useMutation(
    trpc.stacks.rollback.mutationOptions({
      onSettled: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.stacks.get.queryKey({ id }) });
        setText(null);
        refresh();
      },
    }),
  );
  const remove = useMutation(trpc.stacks.remove.mutationOptions({ onSuccess: () => router.push("/stacks") }));

  if (stack.isPending) return <Spinner label="Loading the stack…" />;
  if (stack.isError) return <ErrorBox error={stack.error} onRetry={() => void stack.refetch()} />;
  const s = stack.data;
  const ours = s.target === "fleet" ? (services.data ?? []).filter((x) => x.spec.labels[STACK_LABEL] === s.name) : [];
  const ourContainers = (containers.data ?? []).filter((c) => c.Labels?.[PROJECT_LABEL] === s.name);
  const envParsed = parseEnvLines(newEnv);
  const envNames = [...s.envNames.filter((n) => !removeEnv.includes(n)), ...Object.keys(envParsed.env)];
  const busy = update.isPending || redeploy.isPending || rollback.isPending || remove.isPending || stop.isPending;
  const failure = update.error ?? redeploy.error ?? rollback.error ?? remove.error ?? stop.error;
  const stopped = s.lastDeploy?.reason === "stop" && s.lastDeploy.outcome === "succeeded";

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <div>
          <Link href="/stacks" className="text-sm text-indigo-700 hover:underline">
            Stacks
          </Link>
          <h1 className="text-2xl font-semibold">{s.name}</h1>
          <p className="text-sm text-slate-500">
            {s.target === "host" ? "single-host" : "fleet"} stack · {s.sourceKind} source{stopped ? " · stopped" : ""}
            {s.origin !== "berth" ? ` · adopted from ${s.origin}` : ""}
          </p>
        </div>
        {canOperate && (
          <div className="flex gap-2">
            <Button variant="secondary" disabled={busy} onClick={() => redeploy.mutate({ id })}>
              {stopped ? "Start" : "Redeploy"}
            </Button>
            {!stopped && (
              <Button variant="secondary" disabled={busy} onClick={() => stop.mutate({ id })}>
                Stop
              </Button>
            )}
            <Button
              variant="danger"
              disabled={busy}
              onClick={() => {
                const what = s.target === "host" ? "containers and networks (its volumes stay)" : "services, networks, secrets and configs";
                if (window.confirm(`Remove stack ${s.name} with its ${what}?`)) remove.mutate({ id });
              }}
            >
              Remove
            </Button>
          </div>
        )}
      </div>
      {failure && <ErrorBox error={failure} />}

      {s.git && <GitSourceCard stackId={id} git={s.git} canOperate={canOperate} onPulled={refresh} />}

      {s.target === "host" && (
        <Card title="Containers">
          {ourContainers.length === 0 ? (
            <p className="text-sm text-slate-500">No containers run for this stack.</p>
          ) : (
            <table className="min-w-full text-sm">
              <TableHead variant="card" columns={["Container", "Service", "State", "Image"]} />
              <tbody>
                {ourContainers.map((c) => (
                  <tr key={c.Id} data-testid="stack-container" data-name={c.Names[0]?.replace(/^\//, "")}>
                    <td className="py-1 pr-4">
                      <Link className="text-indigo-700 hover:underline" href={`/hosts/${hostId}/containers/${c.Id}`}>
                        {c.Names[0]?.replace(/^\//, "")}
                      </Link>
                    </td>
                    <td className="py-1 pr-4">{c.Labels?.["com.docker.compose.service"]}</td>
                    <td className="py-1 pr-4" data-testid="state">
                      {c.Status}
                    </td>
                    <td className="py-1 pr-4 font-mono text-xs">{c.Image}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      )}

      {s.target === "fleet" && (
        <Card title="Services">
          {ours.length === 0 ? (
            <p className="text-sm text-slate-500">No services run for this stack.</p>
          ) : (
            <table className="min-w-full text-sm">
              <TableHead variant="card" columns={["Service", "Running / desired", "Image", "Update"]} />
              <tbody>
                {ours.map((x) => (
                  <tr key={x.id} data-testid="stack-service" data-name={x.name}>
                    <td className="py-1 pr-4">
                      <Link className="text-indigo-700 hover:underline" href={`/services/${x.id}`}>
                        {x.name}
                      </Link>
                    </td>
                    <td className="py-1 pr-4" data-testid="replicas">
                      {x.running} / {x.spec.mode.kind === "replicated" ? x.spec.mode.replicas : "every host"}
                    </td>
                    <td className="py-1 pr-4 font-mono text-xs" data-testid="image">
                      {x.spec.task.image}
                    </td>
                    <td className="py-1 pr-4">
                      <UpdateStateBadge state={x.updateState} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="mt-2 text-xs text-slate-500">Each service's page has its tasks and events.</p>
        </Card>
      )}

      {canOperate && text !== null && (
        <Card title={s.git ? "Env (the files come from git)" : "Source and env"}>
          <form
            className="space-y-3"
            onSubmit={(e) => {
              e.preventDefault();
              const env: Record<string, string | null> = { ...envParsed.env };
              for (const n of removeEnv) env[n] = null;
              if (s.git) update.mutate({ id, env });
              else update.mutate({ id, source: { ...s.source, files: { ...s.source.files, [mainFile]: text } }, env });
            }}
          >
            {s.git ? (
              <pre className="max-h-80 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs" data-testid="git-compose">
                {text}
              </pre>
            ) : (
              <ComposeEditor value={text} onChange={setText} envNames={envNames} files={s.source.files} />
            )}
            <div className="text-sm">
              Env values (shown by name only)
              <ul className="my-1 space-y-1">
                {s.envNames.map((n) => (
                  <li key={n} className="flex items-center gap-2 font-mono text-xs" data-testid="env-name">
                    <span className={removeEnv.includes(n) ? "line-through" : ""}>{n}=••••••</span>
                    <button
                      type="button"
                      className="text-red-700 hover:underline"
                      onClick={() => setRemoveEnv((r) => (r.includes(n) ? r.filter((x) => x !== n) : [...r, n]))}
                    >
                      {removeEnv.includes(n) ? "keep" : "remove"}
                    </button>
                  </li>
                ))}
              </ul>
              <textarea
                aria-label="Set env values"
                placeholder="KEY=value per line: sets or replaces"
                className={`${input} h-16`}
                value={newEnv}
                onChange={(e) => setNewEnv(e.target.value)}
              />
              {envParsed.bad.length > 0 && <p className="text-xs text-red-700">Not KEY=value: {envParsed.bad.join(", ")}</p>}
            </div>
            <Button type="submit" disabled={busy || envParsed.bad.length > 0}>
              {update.isPending ? "Deploying…" : "Save and deploy"}
            </Button>
          </form>
        </Card>
      )}

      <Card title="Logs">
        <LogViewer source={{ kind: "stack", stackId: id }} />
      </Card>

      <Card title="Deploys">
        {history.data && history.data.length === 0 && <p className="text-sm text-slate-500">Never deployed.</p>}
        {history.data && history.data.length > 0 && (
          <table className="min-w-full text-sm">
            <TableHead variant="card" columns={["#", "Why", "By", "When", "Outcome", "Changes", ""]} />
            <tbody>
              {history.data.map((d) => (
                <tr key={d.number} data-testid="deploy-row" data-number={d.number} className="align-top">
                  <td className="py-1 pr-4">{d.number}</td>
                  <td className="py-1 pr-4">
                    {d.reason === "rollback" ? `rollback to #${d.rollbackOf}` : d.reason}
                    {d.commit && <span className="ml-1 font-mono text-xs text-slate-500">{d.commit.slice(0, 8)}</span>}
                  </td>
                  <td className="py-1 pr-4">{d.createdByName}</td>
                  <td className="py-1 pr-4">{formatAgo(d.startedAt)}</td>
                  <td className="py-1 pr-4">
                    <DeployOutcomeBadge outcome={d.outcome} />
                  </td>
                  <td className="py-1 pr-4 text-xs" data-testid="deploy-summary">
                    {deploySummary(d.summary)}
                    {d.error && <div className="text-red-700">{d.error}</div>}
                  </td>
                  <td className="py-1">
                    {canOperate && d.outcome === "succeeded" && d.reason !== "stop" && d.number !== history.data[0]?.number && (
                      <Button variant="secondary" disabled={busy} onClick={() => rollback.mutate({ id, number: d.number })}>
                        Roll back to this
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

export default function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <StackPage id={id} />
    </AppShell>
  );
}
