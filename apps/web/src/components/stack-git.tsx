"use client";
import { useState } from "react";
import type { StackGitView } from "@berth/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Button, Card, ErrorBox } from "./ui";
import { formatAgo } from "./format";

const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm";

/** What the create dialog sends for a stack kept in git. */
export interface GitSourceInput {
  url: string;
  ref: string;
  path: string;
  composeFiles: string[];
  username?: string;
  password?: string;
  pollSeconds: number;
}

export const EMPTY_GIT: GitSourceInput = { url: "", ref: "main", path: "", composeFiles: ["compose.yaml"], pollSeconds: 300 };

/** The repository fields of the create dialog. */
export function GitSourceFields({ value, onChange }: { value: GitSourceInput; onChange(v: GitSourceInput): void }) {
  const set = (patch: Partial<GitSourceInput>) => onChange({ ...value, ...patch });
  return (
    <div className="grid grid-cols-2 gap-3 text-sm">
      <label className="col-span-2 block">
        Repository URL (https://, http:// or git://)
        <input aria-label="Repository URL" className={input} value={value.url} onChange={(e) => set({ url: e.target.value })} required />
      </label>
      <label className="block">
        Branch, tag or commit
        <input aria-label="Git ref" className={input} value={value.ref} onChange={(e) => set({ ref: e.target.value })} />
      </label>
      <label className="block">
        Directory in the repository
        <input
          aria-label="Stack directory"
          placeholder="(the root)"
          className={input}
          value={value.path}
          onChange={(e) => set({ path: e.target.value })}
        />
      </label>
      <label className="block">
        Compose files, in merge order
        <input
          aria-label="Compose files"
          className={input}
          value={value.composeFiles.join(", ")}
          onChange={(e) =>
            set({
              composeFiles: e.target.value
                .split(",")
                .map((f) => f.trim())
                .filter(Boolean),
            })
          }
        />
      </label>
      <label className="block">
        Check for commits every (seconds; 0: webhook only)
        <input
          aria-label="Poll seconds"
          type="number"
          min={0}
          className={input}
          value={value.pollSeconds}
          onChange={(e) => set({ pollSeconds: Number(e.target.value) })}
        />
      </label>
      <label className="block">
        Username (private repositories)
        <input
          aria-label="Git username"
          className={input}
          value={value.username ?? ""}
          onChange={(e) => set({ username: e.target.value || undefined })}
        />
      </label>
      <label className="block">
        Password or token (stored sealed)
        <input
          aria-label="Git password"
          type="password"
          className={input}
          value={value.password ?? ""}
          onChange={(e) => set({ password: e.target.value || undefined })}
        />
      </label>
    </div>
  );
}

/** A git stack's repository, its last read, a "pull now", and the push webhook to give the git host. */
export function GitSourceCard({
  stackId,
  git,
  canOperate,
  onPulled,
}: {
  stackId: string;
  git: StackGitView;
  canOperate: boolean;
  onPulled(): void;
}) {
  const trpc = useTRPC();
  const [showHook, setShowHook] = useState(false);
  const pull = useMutation(trpc.stacks.pull.mutationOptions({ onSettled: onPulled }));
  const hook = useQuery(trpc.stacks.webhook.queryOptions({ id: stackId }, { enabled: showHook }));
  return (
    <Card
      title="Git source"
      actions={
        canOperate && (
          <Button variant="secondary" disabled={pull.isPending} onClick={() => pull.mutate({ id: stackId })}>
            {pull.isPending ? "Reading…" : "Pull now"}
          </Button>
        )
      }
    >
      <dl className="grid grid-cols-[10rem_1fr] gap-y-1 text-sm" data-testid="git-source">
        <dt className="text-slate-500">Repository</dt>
        <dd className="font-mono text-xs">{git.url}</dd>
        <dt className="text-slate-500">Ref · directory</dt>
        <dd className="font-mono text-xs">
          {git.ref} · {git.path || "/"}
        </dd>
        <dt className="text-slate-500">Commit</dt>
        <dd className="font-mono text-xs" data-testid="git-commit">
          {git.commit?.slice(0, 12) ?? "none"} {git.polledAt ? `(read ${formatAgo(git.polledAt)})` : ""}
        </dd>
        <dt className="text-slate-500">Polling</dt>
        <dd>{git.pollSeconds === 0 ? "off (webhook only)" : `every ${git.pollSeconds} s`}</dd>
        <dt className="text-slate-500">Credentials</dt>
        <dd>{git.hasPassword ? `${git.username ?? "git"} / ••••••` : "none"}</dd>
      </dl>
      {git.error && (
        <p role="alert" className="mt-2 text-sm text-red-700" data-testid="git-error">
          The last read failed: {git.error}
        </p>
      )}
      {pull.data && (
        <p className="mt-2 text-sm text-slate-600" data-testid="pull-result">
          Read {pull.data.commit.slice(0, 12)}:{" "}
          {pull.data.deploy ? `deployed #${pull.data.deploy.number}` : "the stack's files are unchanged"}
        </p>
      )}
      {pull.isError && <ErrorBox error={pull.error} />}
      {canOperate && (
        <div className="mt-3 text-sm">
          {!showHook ? (
            <button type="button" className="text-indigo-700 hover:underline" onClick={() => setShowHook(true)}>
              Show the push webhook
            </button>
          ) : hook.data ? (
            <div className="space-y-1" data-testid="webhook">
              <p>
                Add a push webhook to the repository (GitHub, GitLab or Gitea), content type JSON. A push that changes none of this stack's
                files deploys nothing.
              </p>
              <p className="font-mono text-xs">URL: {hook.data.url}</p>
              <p className="font-mono text-xs">Secret: {hook.data.secret}</p>
            </div>
          ) : (
            hook.isError && <ErrorBox error={hook.error} />
          )}
        </div>
      )}
    </Card>
  );
}
