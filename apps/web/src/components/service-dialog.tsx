"use client";
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";
import { splitCommandLine } from "@berth/protocol/command-line";
import { parseServicePort } from "@berth/protocol";

const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 text-sm";
const lines = (s: string) =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * `docker service create` from the browser. The form covers the common fields; "Edit as JSON"
 * shows the whole spec it builds (every field of the service model, with Swarm's defaults left
 * to the server), to change anything the form does not show. The server validates either way
 * and names the field that is wrong.
 */
export function ServiceDialog({ onClose, onCreated }: { onClose(): void; onCreated(id: string): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const teams = useQuery(trpc.auth.teams.queryOptions());
  const [name, setName] = useState("");
  const [image, setImage] = useState("busybox");
  const [args, setArgs] = useState("");
  const [mode, setMode] = useState<"replicated" | "global">("replicated");
  const [replicas, setReplicas] = useState("1");
  const [env, setEnv] = useState("");
  const [constraints, setConstraints] = useState("");
  const [ports, setPorts] = useState("");
  const [parallelism, setParallelism] = useState("1");
  const [order, setOrder] = useState<"stop-first" | "start-first">("stop-first");
  const [failureAction, setFailureAction] = useState<"pause" | "continue" | "rollback">("pause");
  const [restart, setRestart] = useState<"any" | "on-failure" | "none">("any");
  const [secrets, setSecrets] = useState<string[]>([]);
  const [configs, setConfigs] = useState<string[]>([]);
  const secretList = useQuery(trpc.secrets.list.queryOptions());
  const configList = useQuery(trpc.configs.list.queryOptions());
  const [json, setJson] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const create = useMutation(
    trpc.services.create.mutationOptions({
      onSuccess: (s) => {
        void queryClient.invalidateQueries({ queryKey: trpc.services.list.queryKey() });
        onCreated(s.id);
      },
    }),
  );

  /** The spec the form says; throws with a message naming the field. */
  const specOfForm = (): Record<string, unknown> => {
    let argv: string[] | undefined;
    try {
      argv = args.trim() ? splitCommandLine(args) : undefined;
    } catch (e) {
      throw new Error(`Arguments: ${(e as Error).message}`);
    }
    const published = lines(ports).map((p) => {
      const port = parseServicePort(p);
      if (!port) throw new Error(`Ports: "${p}" is not [PUBLISHED:]TARGET[/udp]`);
      return port;
    });
    return {
      name,
      task: {
        image,
        ...(argv ? { args: argv } : {}),
        env: lines(env),
        placement: { constraints: lines(constraints) },
        restartPolicy: { condition: restart },
        secrets: secrets.map((source) => ({ source })),
        configs: configs.map((source) => ({ source })),
      },
      mode: mode === "global" ? { kind: "global" } : { kind: "replicated", replicas: Number(replicas) },
      endpoint: { ports: published },
      updateConfig: { parallelism: Number(parallelism), order, failureAction },
    };
  };

  const submit = () => {
    setFormError(null);
    const teamId = teams.data?.[0]?.id;
    if (!teamId) return setFormError("You belong to no team.");
    let spec: Record<string, unknown>;
    try {
      spec = json !== null ? (JSON.parse(json) as Record<string, unknown>) : specOfForm();
    } catch (e) {
      return setFormError(json !== null ? `Spec JSON: ${(e as Error).message}` : (e as Error).message);
    }
    create.mutate({ teamId, spec });
  };

  const field = (label: string, el: React.ReactNode, hint?: string) => (
    // biome-ignore lint/a11y/noLabelWithoutControl: every caller passes its input, select or textarea as el, inside the label
    <label className="block text-sm">
      <span className="font-medium text-slate-700">{label}</span>
      {el}
      {hint && <span className="text-xs text-slate-500">{hint}</span>}
    </label>
  );

  return (
    <Dialog title="Create a service" width="max-w-2xl" onClose={onClose}>
      <form
        className="max-h-[65vh] space-y-3 overflow-y-auto pr-1"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        {json === null ? (
          <>
            <div className="grid grid-cols-2 gap-3">
              {field("Name", <input aria-label="Name" className={input} value={name} onChange={(e) => setName(e.target.value)} required />)}
              {field(
                "Image",
                <input
                  aria-label="Image"
                  className={`${input} font-mono`}
                  value={image}
                  onChange={(e) => setImage(e.target.value)}
                  required
                />,
              )}
            </div>
            {field(
              "Arguments",
              <input aria-label="Arguments" className={`${input} font-mono`} value={args} onChange={(e) => setArgs(e.target.value)} />,
              "replace the image's command, e.g. sleep 3600",
            )}
            <div className="grid grid-cols-2 gap-3">
              {field(
                "Mode",
                <select aria-label="Mode" className={input} value={mode} onChange={(e) => setMode(e.target.value as typeof mode)}>
                  <option value="replicated">replicated</option>
                  <option value="global">global (one per host)</option>
                </select>,
              )}
              {mode === "replicated" &&
                field(
                  "Replicas",
                  <input
                    aria-label="Replicas"
                    type="number"
                    min={0}
                    className={input}
                    value={replicas}
                    onChange={(e) => setReplicas(e.target.value)}
                  />,
                )}
            </div>
            {field(
              "Environment",
              <textarea
                aria-label="Environment"
                rows={2}
                className={`${input} font-mono`}
                value={env}
                onChange={(e) => setEnv(e.target.value)}
              />,
              "KEY=value, one per line",
            )}
            {field(
              "Constraints",
              <textarea
                aria-label="Constraints"
                rows={2}
                className={`${input} font-mono`}
                value={constraints}
                onChange={(e) => setConstraints(e.target.value)}
              />,
              "one per line: node.labels.zone==a, node.hostname!=web-3, node.platform.arch==arm64",
            )}
            {field(
              "Ports",
              <textarea
                aria-label="Ports"
                rows={1}
                className={`${input} font-mono`}
                value={ports}
                onChange={(e) => setPorts(e.target.value)}
              />,
              "published:target, one per line; published on each host that runs a task",
            )}
            <div className="grid grid-cols-2 gap-3">
              <FilePicker
                label="Secrets"
                hint="at /run/secrets/<name>"
                names={secretList.data?.map((x) => x.name) ?? []}
                chosen={secrets}
                onChange={setSecrets}
              />
              <FilePicker
                label="Configs"
                hint="at /<name>"
                names={configList.data?.map((x) => x.name) ?? []}
                chosen={configs}
                onChange={setConfigs}
              />
            </div>
            <div className="grid grid-cols-4 gap-3">
              {field(
                "Update parallelism",
                <input
                  aria-label="Update parallelism"
                  type="number"
                  min={0}
                  className={input}
                  value={parallelism}
                  onChange={(e) => setParallelism(e.target.value)}
                />,
              )}
              {field(
                "Update order",
                <select
                  aria-label="Update order"
                  className={input}
                  value={order}
                  onChange={(e) => setOrder(e.target.value as typeof order)}
                >
                  <option value="stop-first">stop-first</option>
                  <option value="start-first">start-first</option>
                </select>,
              )}
              {field(
                "On update failure",
                <select
                  aria-label="On update failure"
                  className={input}
                  value={failureAction}
                  onChange={(e) => setFailureAction(e.target.value as typeof failureAction)}
                >
                  <option value="pause">pause</option>
                  <option value="rollback">roll back</option>
                  <option value="continue">continue</option>
                </select>,
              )}
              {field(
                "Restart",
                <select
                  aria-label="Restart"
                  className={input}
                  value={restart}
                  onChange={(e) => setRestart(e.target.value as typeof restart)}
                >
                  <option value="any">any exit</option>
                  <option value="on-failure">on failure</option>
                  <option value="none">never</option>
                </select>,
              )}
            </div>
          </>
        ) : (
          field(
            "Spec (JSON)",
            <textarea
              aria-label="Spec (JSON)"
              rows={18}
              className={`${input} font-mono text-xs`}
              value={json}
              onChange={(e) => setJson(e.target.value)}
            />,
            "resources, healthcheck, mounts, networks, placement preferences, rollback config…: see the service model in the README",
          )
        )}
        {formError && <ErrorBox error={{ message: formError }} />}
        <ErrorBox error={create.error} />
        <div className="flex justify-between">
          <Button
            type="button"
            variant="secondary"
            onClick={() => {
              if (json !== null) return setJson(null);
              try {
                setJson(JSON.stringify(specOfForm(), null, 2));
              } catch (e) {
                setFormError((e as Error).message);
              }
            }}
          >
            {json === null ? "Edit as JSON" : "Back to the form"}
          </Button>
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create"}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

/** Secrets or configs of the team to give each task, by name (made on the Secrets page). */
function FilePicker(p: { label: string; hint: string; names: string[]; chosen: string[]; onChange(next: string[]): void }) {
  return (
    <fieldset className="text-sm" aria-label={p.label}>
      <legend className="font-medium text-slate-700">{p.label}</legend>
      {p.names.length === 0 && <span className="text-xs text-slate-500">none yet: add them on the Secrets page</span>}
      {p.names.map((n) => (
        <label key={n} className="mr-3 inline-flex items-center gap-1 font-mono text-xs">
          <input
            type="checkbox"
            checked={p.chosen.includes(n)}
            onChange={(e) => p.onChange(e.target.checked ? [...p.chosen, n] : p.chosen.filter((x) => x !== n))}
          />
          {n}
        </label>
      ))}
      <span className="block text-xs text-slate-500">{p.hint}</span>
    </fieldset>
  );
}
