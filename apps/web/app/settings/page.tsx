"use client";
import { useState } from "react";
import type { ContainerPolicyRules } from "@berth/core";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../src/client/trpc";
import { AppShell } from "../../src/components/app-shell";
import { Button, Card, ErrorBox, Spinner, TableHead } from "../../src/components/ui";
import { formatAgo } from "../../src/components/format";

const ROLES = ["owner", "admin", "operator", "viewer"] as const;
type Role = (typeof ROLES)[number];

/** Team members and their roles. Only owners grant or take away ownership (the server checks). */
function Members({ teamId, isOwner }: { teamId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const members = useQuery(trpc.teams.members.queryOptions({ teamId }));
  const setRole = useMutation(
    trpc.teams.setRole.mutationOptions({ onSettled: () => qc.invalidateQueries(trpc.teams.members.queryFilter()) }),
  );
  const remove = useMutation(
    trpc.teams.removeMember.mutationOptions({ onSettled: () => qc.invalidateQueries(trpc.teams.members.queryFilter()) }),
  );
  return (
    <Card title="Members">
      <ErrorBox error={members.error ?? setRole.error ?? remove.error} />
      {members.isPending ? (
        <Spinner />
      ) : (
        <table className="w-full text-sm">
          <TableHead columns={["Email", "Role", "Since", ""]} variant="card" />
          <tbody>
            {members.data?.map((m) => (
              <tr key={m.userId} className="border-t border-slate-100" data-testid="member-row" data-email={m.email}>
                <td className="py-2">{m.email}</td>
                <td>
                  <select
                    aria-label={`Role of ${m.email}`}
                    value={m.role}
                    disabled={!isOwner && m.role === "owner"}
                    onChange={(e) => setRole.mutate({ teamId, userId: m.userId, role: e.target.value as Role })}
                    className="rounded border border-slate-300 px-1 py-0.5"
                  >
                    {ROLES.filter((r) => isOwner || r !== "owner" || m.role === "owner").map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                </td>
                <td className="text-slate-500">{formatAgo(m.since)}</td>
                <td className="text-right">
                  <Button
                    variant="secondary"
                    disabled={!isOwner && m.role === "owner"}
                    onClick={() => confirm(`Remove ${m.email} from the team?`) && remove.mutate({ teamId, userId: m.userId })}
                  >
                    Remove
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

/** API tokens: created with a role no higher than the creator's, shown once, revocable. */
function ApiTokens({ teamId, myRole }: { teamId: string; myRole: Role }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tokens = useQuery(trpc.apiTokens.list.queryOptions());
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [days, setDays] = useState("90");
  const create = useMutation(
    trpc.apiTokens.create.mutationOptions({ onSettled: () => qc.invalidateQueries(trpc.apiTokens.list.queryFilter()) }),
  );
  const revoke = useMutation(
    trpc.apiTokens.revoke.mutationOptions({ onSettled: () => qc.invalidateQueries(trpc.apiTokens.list.queryFilter()) }),
  );
  const allowed = ROLES.slice(ROLES.indexOf(myRole));
  const origin = typeof window === "undefined" ? "" : window.location.origin;
  return (
    <Card title="API tokens">
      <ErrorBox error={tokens.error ?? create.error ?? revoke.error} />
      <form
        className="mb-3 flex flex-wrap items-end gap-2 text-sm"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ name, role, teamId, expiresInSeconds: days ? Number(days) * 86_400 : null });
        }}
      >
        <label className="flex flex-col">
          Name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={100}
            className="rounded border border-slate-300 px-2 py-1"
          />
        </label>
        <label className="flex flex-col">
          Token role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)} className="rounded border border-slate-300 px-2 py-1">
            {allowed.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label className="flex flex-col">
          Expires
          <select value={days} onChange={(e) => setDays(e.target.value)} className="rounded border border-slate-300 px-2 py-1">
            <option value="30">in 30 days</option>
            <option value="90">in 90 days</option>
            <option value="365">in a year</option>
            <option value="">never</option>
          </select>
        </label>
        <Button type="submit" disabled={create.isPending}>
          Create token
        </Button>
      </form>
      {create.data && (
        <div className="mb-3 rounded border border-emerald-200 bg-emerald-50 p-3 text-sm" data-testid="new-token">
          <p className="font-medium">Copy this token now; it is not shown again.</p>
          <code className="block break-all font-mono" data-testid="new-token-value">
            {create.data.token}
          </code>
          <p className="mt-2 text-slate-600">Try it:</p>
          <code className="block break-all font-mono text-xs">
            curl -H &quot;Authorization: Bearer {create.data.token}&quot; {origin}/api/v1/hosts
          </code>
        </div>
      )}
      {tokens.isPending ? (
        <Spinner />
      ) : (
        <table className="w-full text-sm">
          <TableHead columns={["Name", "Role", "Token", "Last used", "State", ""]} variant="card" />
          <tbody>
            {tokens.data?.map((t) => (
              <tr key={t.id} className="border-t border-slate-100" data-testid="token-row" data-name={t.name} data-state={t.state}>
                <td className="py-2">{t.name}</td>
                <td>{t.role}</td>
                <td className="font-mono text-xs">berth_{t.hint}…</td>
                <td className="text-slate-500">{t.lastUsedAt ? formatAgo(t.lastUsedAt) : "never"}</td>
                <td>{t.state}</td>
                <td className="text-right">
                  {t.state === "active" && (
                    <Button variant="danger" onClick={() => confirm(`Revoke ${t.name}?`) && revoke.mutate({ id: t.id })}>
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

/** Invitation links: the only way into the team. Shown once; listed with their state; revocable. */
function Invitations({ teamId, myRole }: { teamId: string; myRole: Role }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const list = useQuery(trpc.invitations.list.queryOptions());
  const [role, setRole] = useState<Role>("viewer");
  const [hours, setHours] = useState("72");
  const [note, setNote] = useState("");
  const refresh = () => qc.invalidateQueries(trpc.invitations.list.queryFilter());
  const create = useMutation(trpc.invitations.create.mutationOptions({ onSettled: refresh }));
  const revoke = useMutation(trpc.invitations.revoke.mutationOptions({ onSettled: refresh }));
  const allowed = ROLES.slice(ROLES.indexOf(myRole));
  return (
    <Card title="Invitations">
      <ErrorBox error={list.error ?? create.error ?? revoke.error} />
      <form
        className="mb-3 flex flex-wrap items-end gap-2 text-sm"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ teamId, role, expiresInHours: Number(hours), note });
        }}
      >
        <label className="flex flex-col">
          Invite as
          <select value={role} onChange={(e) => setRole(e.target.value as Role)} className="rounded border border-slate-300 px-2 py-1">
            {allowed.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label className="flex flex-col">
          Link expires
          <select value={hours} onChange={(e) => setHours(e.target.value)} className="rounded border border-slate-300 px-2 py-1">
            <option value="24">in a day</option>
            <option value="72">in 3 days</option>
            <option value="168">in a week</option>
          </select>
        </label>
        <label className="flex flex-col">
          Note
          <input
            value={note}
            onChange={(e) => setNote(e.target.value)}
            maxLength={200}
            placeholder="who it is for"
            className="rounded border border-slate-300 px-2 py-1"
          />
        </label>
        <Button type="submit" disabled={create.isPending}>
          Create invitation
        </Button>
      </form>
      {create.data && (
        <div className="mb-3 rounded border border-emerald-200 bg-emerald-50 p-3 text-sm" data-testid="new-invitation">
          <p className="font-medium">Send this link to the person you invite; it works once and is not shown again.</p>
          <code className="block break-all font-mono" data-testid="new-invitation-link">
            {create.data.link}
          </code>
        </div>
      )}
      {list.isPending ? (
        <Spinner />
      ) : (
        <table className="w-full text-sm">
          <TableHead columns={["Role", "Note", "Link", "Expires", "State", ""]} variant="card" />
          <tbody>
            {list.data?.map((i) => (
              <tr key={i.id} className="border-t border-slate-100" data-testid="invitation-row" data-state={i.state} data-note={i.note}>
                <td className="py-2">{i.role}</td>
                <td>{i.note}</td>
                <td className="font-mono text-xs">inv_{i.hint}…</td>
                <td className="text-slate-500">{new Date(i.expiresAt).toLocaleString()}</td>
                <td>{i.state === "used" ? `used by ${i.usedByEmail}` : i.state}</td>
                <td className="text-right">
                  {i.state === "pending" && (
                    <Button variant="danger" onClick={() => confirm("Revoke this invitation?") && revoke.mutate({ id: i.id })}>
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

type Policy = ContainerPolicyRules;
const POLICY_SWITCHES: Array<[keyof Policy, string]> = [
  ["allowPrivileged", "Privileged containers"],
  ["allowHostNetwork", "Host network"],
  ["allowHostPid", "Host PID namespace"],
  ["allowHostIpc", "Host IPC namespace"],
  ["allowHostUts", "Host UTS namespace"],
  ["allowUnconfined", "seccomp or AppArmor turned off"],
  ["allowDevices", "Host devices"],
];

/** What operators may ask of the hosts (admins and owners are not bound by it). */
function ContainerPolicy({ teamId }: { teamId: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const current = useQuery(trpc.policies.get.queryOptions({ teamId }));
  const [draft, setDraft] = useState<Policy | null>(null);
  const save = useMutation(
    trpc.policies.set.mutationOptions({
      onSuccess: () => {
        setDraft(null);
        return qc.invalidateQueries(trpc.policies.get.queryFilter());
      },
    }),
  );
  const p = draft ?? current.data;
  const lines = (v: string) =>
    v
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
  return (
    <Card title="Container policy">
      <p className="mb-2 text-sm text-slate-600">
        What operators may use when they run containers. Admins and owners are not bound by it. Everything is off by default, as Docker's
        defaults.
      </p>
      <ErrorBox error={current.error ?? save.error} />
      {!p ? (
        <Spinner />
      ) : (
        <form
          className="space-y-3 text-sm"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate({ teamId, ...p });
          }}
        >
          <div className="grid grid-cols-2 gap-1 md:grid-cols-3">
            {POLICY_SWITCHES.map(([key, label]) => (
              <label key={key} className="flex items-center gap-2">
                <input type="checkbox" checked={Boolean(p[key])} onChange={(e) => setDraft({ ...p, [key]: e.target.checked })} />
                {label}
              </label>
            ))}
          </div>
          <label className="flex flex-col">
            Bind mounts allowed under (host paths, one per line)
            <textarea
              aria-label="Bind mount prefixes"
              value={p.bindPrefixes.join("\n")}
              onChange={(e) => setDraft({ ...p, bindPrefixes: lines(e.target.value) })}
              rows={2}
              placeholder="/srv/data"
              className="rounded border border-slate-300 px-2 py-1 font-mono"
            />
          </label>
          <label className="flex flex-col">
            Capabilities beyond Docker&apos;s default set
            <input
              aria-label="Extra capabilities"
              value={p.allowedCapabilities.join(", ")}
              onChange={(e) => setDraft({ ...p, allowedCapabilities: lines(e.target.value) })}
              placeholder="NET_ADMIN, SYS_PTRACE"
              className="rounded border border-slate-300 px-2 py-1 font-mono"
            />
          </label>
          <Button type="submit" disabled={save.isPending || draft === null}>
            Save policy
          </Button>
          {save.isSuccess && draft === null && (
            <span className="ml-2 text-emerald-700" data-testid="policy-saved">
              Saved
            </span>
          )}
        </form>
      )}
    </Card>
  );
}

const HOOK_EVENTS = ["container.die", "container.oom", "container.unhealthy", "host.offline", "host.online"] as const;

/** Webhooks: signed POSTs on events, retried with backoff; each shows its delivery log. */
function Webhooks({ teamId }: { teamId: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const hooks = useQuery(trpc.webhooks.list.queryOptions());
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["container.die", "host.offline"]);
  const [open, setOpen] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries(trpc.webhooks.list.queryFilter());
  const create = useMutation(trpc.webhooks.create.mutationOptions({ onSettled: refresh }));
  const remove = useMutation(trpc.webhooks.remove.mutationOptions({ onSettled: refresh }));
  const ping = useMutation(
    trpc.webhooks.test.mutationOptions({ onSettled: () => qc.invalidateQueries(trpc.webhooks.deliveries.queryFilter()) }),
  );
  const deliveries = useQuery(
    trpc.webhooks.deliveries.queryOptions({ id: open ?? "" }, { enabled: open !== null, refetchInterval: 2_000 }),
  );
  const allowlist = useQuery(trpc.webhooks.allowlist.queryOptions({ teamId }));
  const [allowDraft, setAllowDraft] = useState<string | null>(null);
  const saveAllow = useMutation(
    trpc.webhooks.setAllowlist.mutationOptions({
      onSuccess: () => {
        setAllowDraft(null);
        return qc.invalidateQueries(trpc.webhooks.allowlist.queryFilter());
      },
    }),
  );
  return (
    <Card title="Webhooks">
      <ErrorBox error={hooks.error ?? create.error ?? remove.error ?? ping.error ?? saveAllow.error} />
      <form
        className="mb-3 flex flex-wrap items-end gap-2 text-sm"
        onSubmit={(e) => {
          e.preventDefault();
          saveAllow.mutate({ teamId, entries: (allowDraft ?? "").split(/[\s,]+/).filter(Boolean) });
        }}
      >
        <label className="flex flex-col">
          Internal targets allowed (loopback, link-local, private: host names, addresses, CIDRs)
          <input
            aria-label="Allowed internal webhook targets"
            value={allowDraft ?? (allowlist.data ?? []).join(", ")}
            onChange={(e) => setAllowDraft(e.target.value)}
            placeholder="hooks.internal, 10.0.5.0/24"
            className="w-96 rounded border border-slate-300 px-2 py-1 font-mono"
          />
        </label>
        <Button type="submit" variant="secondary" disabled={allowDraft === null || saveAllow.isPending}>
          Save
        </Button>
      </form>
      <form
        className="mb-3 flex flex-wrap items-end gap-2 text-sm"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ teamId, name, url, events: events as (typeof HOOK_EVENTS)[number][] });
        }}
      >
        <label className="flex flex-col">
          Webhook name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={100}
            className="rounded border border-slate-300 px-2 py-1"
          />
        </label>
        <label className="flex flex-col">
          URL
          <input
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            required
            placeholder="https://…"
            className="w-72 rounded border border-slate-300 px-2 py-1"
          />
        </label>
        <fieldset className="flex flex-wrap gap-2">
          {HOOK_EVENTS.map((ev) => (
            <label key={ev} className="flex items-center gap-1">
              <input
                type="checkbox"
                checked={events.includes(ev)}
                onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))}
              />
              {ev}
            </label>
          ))}
        </fieldset>
        <Button type="submit" disabled={create.isPending || events.length === 0}>
          Add webhook
        </Button>
      </form>
      {create.data && (
        <div className="mb-3 rounded border border-emerald-200 bg-emerald-50 p-3 text-sm" data-testid="new-webhook-secret">
          Signing secret (shown once): <code className="font-mono">{create.data.secret}</code>. Requests carry{" "}
          <code>X-Berth-Signature-256: sha256=HMAC(secret, timestamp + &quot;.&quot; + body)</code> and <code>X-Berth-Timestamp</code>.
        </div>
      )}
      {hooks.isPending ? (
        <Spinner />
      ) : (
        <ul className="divide-y divide-slate-100 text-sm">
          {hooks.data?.map((h) => (
            <li key={h.id} className="py-2" data-testid="webhook-row" data-name={h.name}>
              <div className="flex items-center gap-2">
                <span className="font-medium">{h.name}</span>
                <code className="truncate text-xs text-slate-500">{h.url}</code>
                <span className="text-xs text-slate-500">{h.events.join(", ")}</span>
                <span className="ml-auto flex gap-2">
                  <Button
                    variant="secondary"
                    onClick={() => {
                      ping.mutate({ id: h.id });
                      setOpen(h.id);
                    }}
                  >
                    Send ping
                  </Button>
                  <Button variant="secondary" onClick={() => setOpen(open === h.id ? null : h.id)}>
                    Deliveries
                  </Button>
                  <Button variant="danger" onClick={() => confirm(`Remove webhook ${h.name}?`) && remove.mutate({ id: h.id })}>
                    Remove
                  </Button>
                </span>
              </div>
              {open === h.id && (
                <table className="mt-2 w-full text-xs" data-testid="webhook-deliveries">
                  <TableHead columns={["When", "Event", "State", "Attempts", "Last answer"]} variant="card" />
                  <tbody>
                    {deliveries.data?.rows.map((d) => (
                      <tr key={d.id} className="border-t border-slate-100" data-testid="delivery-row" data-status={d.status}>
                        <td className="py-1">{new Date(d.createdAt).toLocaleString()}</td>
                        <td className="font-mono">{d.event}</td>
                        <td>{d.status}</td>
                        <td>{d.attempts}</td>
                        <td>{d.lastStatus ?? d.lastError ?? "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

/** The audit log, newest first: filtered and paged on the server. */
function AuditLog() {
  const trpc = useTRPC();
  const [action, setAction] = useState("");
  const [result, setResult] = useState<"" | "ok" | "error">("");
  const [channel, setChannel] = useState<"" | "ui" | "trpc" | "rest" | "cli">("");
  const filters = { ...(action ? { action } : {}), ...(result ? { result } : {}), ...(channel ? { channel } : {}), limit: 50 };
  const audit = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(filters, { getNextPageParam: (p) => p.nextCursor ?? undefined, refetchInterval: 5_000 }),
  );
  const rows = audit.data?.pages.flatMap((p) => p.rows) ?? [];
  return (
    <Card title="Audit log">
      <div className="mb-3 flex flex-wrap gap-2 text-sm">
        <input
          aria-label="Action starts with"
          placeholder="action, e.g. containers."
          value={action}
          onChange={(e) => setAction(e.target.value)}
          className="rounded border border-slate-300 px-2 py-1"
        />
        <select
          aria-label="Result"
          value={result}
          onChange={(e) => setResult(e.target.value as typeof result)}
          className="rounded border border-slate-300 px-2 py-1"
        >
          <option value="">any result</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
        <select
          aria-label="Channel"
          value={channel}
          onChange={(e) => setChannel(e.target.value as typeof channel)}
          className="rounded border border-slate-300 px-2 py-1"
        >
          <option value="">any channel</option>
          <option value="ui">ui</option>
          <option value="rest">rest</option>
          <option value="trpc">trpc</option>
          <option value="cli">cli</option>
        </select>
      </div>
      <ErrorBox error={audit.error} />
      {audit.isPending ? (
        <Spinner />
      ) : (
        <table className="w-full text-sm">
          <TableHead columns={["When", "Who", "Action", "Target", "Result", "Channel", "From"]} variant="card" />
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} className="border-t border-slate-100" data-testid="audit-row" data-action={r.action} data-result={r.result}>
                <td className="py-1 text-slate-500">{new Date(r.at).toLocaleString()}</td>
                <td>
                  {r.actorType}
                  {r.actorId ? <span className="ml-1 font-mono text-xs text-slate-500">{r.actorId.slice(0, 10)}</span> : null}
                </td>
                <td className="font-mono text-xs">{r.action}</td>
                <td className="max-w-[16rem] truncate font-mono text-xs">{r.target}</td>
                <td className={r.result === "ok" ? "text-emerald-700" : "text-red-700"}>{r.result}</td>
                <td>{r.channel}</td>
                <td className="font-mono text-xs">{r.sourceIp}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {audit.hasNextPage && (
        <Button variant="secondary" className="mt-2" onClick={() => void audit.fetchNextPage()}>
          Older
        </Button>
      )}
    </Card>
  );
}

/** The lines that point a docker CLI at the fleet's Docker endpoint: a context, its certificate, and a token header. */
function DockerCli() {
  const trpc = useTRPC();
  const ep = useQuery(trpc.docker.endpoint.queryOptions());
  if (ep.error) return <ErrorBox error={ep.error} />;
  if (!ep.data) return <Spinner />;
  if (!ep.data.dockerHost) return null;
  const { dockerHost, caPem } = ep.data;
  const lines = [
    ...(caPem ? ["mkdir -p ~/.docker/berth", "cat > ~/.docker/berth/ca.pem <<'EOF'", caPem.trim(), "EOF"] : []),
    `docker context create berth --docker "host=${dockerHost}${caPem ? ",ca=$HOME/.docker/berth/ca.pem" : ""}"`,
    "docker context use berth",
  ].join("\n");
  return (
    <Card title="Docker CLI">
      <p className="mb-2 text-sm text-slate-600">
        The control plane speaks the Docker and Swarm APIs for the whole fleet: <code>docker node ls</code>,{" "}
        <code>docker service create</code>, <code>docker ps</code> across every host (containers named <code>host/name</code>),{" "}
        <code>docker run -e constraint:node==HOST</code>. Point a docker CLI at it:
      </p>
      <pre className="overflow-x-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100" data-testid="docker-cli-setup">
        {lines}
      </pre>
      <p className="mt-2 text-sm text-slate-600">
        Then add an API token (above) to <code>~/.docker/config.json</code>, which the CLI sends with every request:
      </p>
      <pre className="overflow-x-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100">
        {'{ "HttpHeaders": { "Authorization": "Bearer berth_…" } }'}
      </pre>
      {ep.data.clientCertificates && <ClientCertificates dockerHost={dockerHost} />}
    </Card>
  );
}

/**
 * Or a client certificate of your own instead of a token: issued here, its key shown once. The
 * endpoint takes it as you, with your roles, until it expires or you revoke it.
 */
function ClientCertificates({ dockerHost }: { dockerHost: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.docker.certificates.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.docker.certificates.queryKey() });
  const issue = useMutation(trpc.docker.issueCertificate.mutationOptions({ onSuccess: refresh }));
  const revoke = useMutation(trpc.docker.revokeCertificate.mutationOptions({ onSuccess: refresh }));
  const issued = issue.data;
  const file = (name: string, pem: string) => [`cat > ~/.docker/berth/${name} <<'EOF'`, pem.trim(), "EOF"];
  return (
    <div className="mt-4 border-t border-slate-100 pt-3">
      <p className="mb-2 text-sm text-slate-600">
        Or use a client certificate of your own instead of a token: the endpoint takes it as you, with your roles, for a year or until you
        revoke it. Its key is shown once.
      </p>
      <ErrorBox error={issue.error ?? revoke.error ?? list.error} />
      <Button onClick={() => issue.mutate()} disabled={issue.isPending}>
        Issue a client certificate
      </Button>
      {issued && (
        <pre className="mt-2 overflow-x-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100" data-testid="docker-cert-setup">
          {[
            ...file("cert.pem", issued.certPem),
            ...file("key.pem", issued.keyPem),
            "chmod 600 ~/.docker/berth/key.pem",
            `docker context create berth-cert --docker "host=${dockerHost},ca=$HOME/.docker/berth/ca.pem,cert=$HOME/.docker/berth/cert.pem,key=$HOME/.docker/berth/key.pem"`,
            "docker --context berth-cert node ls",
          ].join("\n")}
        </pre>
      )}
      {list.data && list.data.length > 0 && (
        <table className="mt-2 min-w-full text-sm" data-testid="docker-certs">
          <TableHead variant="card" columns={["Fingerprint", "Issued", "Expires", ""]} />
          <tbody className="divide-y divide-slate-100">
            {list.data.map((c) => (
              <tr key={c.id} data-testid="docker-cert-row">
                <td className="py-1.5 pr-4 font-mono text-xs">{c.fingerprint.slice(0, 16)}…</td>
                <td className="py-1.5 pr-4">{formatAgo(c.createdAt)}</td>
                <td className="py-1.5 pr-4">{new Date(c.notAfter).toLocaleDateString()}</td>
                <td className="py-1.5 text-right">
                  {c.revokedAt ? (
                    <span className="text-xs text-slate-500">revoked</span>
                  ) : (
                    <Button variant="secondary" onClick={() => revoke.mutate({ id: c.id })}>
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Settings() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const admin = me.data?.memberships.find((m) => m.role === "owner" || m.role === "admin");
  if (me.isPending) return <Spinner />;
  if (!admin)
    return (
      <div className="space-y-4">
        <h1 className="text-2xl font-semibold">Settings</h1>
        <p className="text-sm text-slate-600">Team settings, API tokens and the audit log are for admins and owners.</p>
        <DockerCli />
      </div>
    );
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Settings</h1>
      <Members teamId={admin.teamId} isOwner={admin.role === "owner"} />
      <Invitations teamId={admin.teamId} myRole={admin.role as Role} />
      <ContainerPolicy teamId={admin.teamId} />
      <ApiTokens teamId={admin.teamId} myRole={admin.role as Role} />
      <DockerCli />
      <Webhooks teamId={admin.teamId} />
      <AuditLog />
    </div>
  );
}

export default function SettingsPage() {
  return (
    <AppShell>
      <Settings />
    </AppShell>
  );
}
