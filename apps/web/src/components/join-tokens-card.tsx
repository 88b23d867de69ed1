"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Button, Card, ErrorBox, Spinner, TableHead } from "./ui";
import { formatAgo } from "./format";

const STATE_STYLE = {
  active: "bg-emerald-100 text-emerald-800",
  expired: "bg-slate-100 text-slate-600",
  revoked: "bg-red-100 text-red-700",
  exhausted: "bg-slate-100 text-slate-600",
} as const;

/** Join tokens of the user's teams: never the secret, only its first characters. */
export function JoinTokensCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Uses change when hosts join elsewhere; keep the counts fresh like the hosts table.
  const tokens = useQuery(trpc.joinTokens.list.queryOptions(undefined, { refetchInterval: 5_000 }));
  const revoke = useMutation(
    trpc.joinTokens.revoke.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.joinTokens.list.queryKey() }),
    }),
  );

  return (
    <Card title="Join tokens">
      <ErrorBox error={tokens.error ?? revoke.error} />
      {tokens.isPending && <Spinner label="Loading tokens…" />}
      {tokens.data?.length === 0 && <p className="text-sm text-slate-500">No join tokens. “Add host” creates one.</p>}
      {tokens.data && tokens.data.length > 0 && (
        <table className="min-w-full text-sm" data-testid="join-tokens">
          <TableHead variant="card" columns={["Token", "State", "Uses", "Expires", "Created", ""]} />
          <tbody className="divide-y divide-slate-100">
            {tokens.data.map((t) => (
              <tr key={t.id} data-testid="join-token-row" data-state={t.state}>
                <td className="py-1.5 pr-4 font-mono text-xs">BERTH-1-…-{t.hint}…</td>
                <td className="py-1.5 pr-4">
                  <span className={`rounded px-1.5 py-0.5 text-xs ${STATE_STYLE[t.state]}`}>{t.state}</span>
                </td>
                <td className="py-1.5 pr-4">
                  {t.uses}
                  {t.maxUses !== null ? ` / ${t.maxUses}` : ""}
                </td>
                <td className="py-1.5 pr-4">{t.expiresAt ? new Date(t.expiresAt).toLocaleString() : "never"}</td>
                <td className="py-1.5 pr-4 text-slate-500">{formatAgo(t.createdAt)}</td>
                <td className="py-1.5 text-right">
                  {t.state === "active" && (
                    <Button variant="secondary" disabled={revoke.isPending} onClick={() => revoke.mutate({ id: t.id })}>
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
