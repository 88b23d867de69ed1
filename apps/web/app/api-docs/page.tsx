"use client";
import { useQuery } from "@tanstack/react-query";
import { AppShell } from "../../src/components/app-shell";
import { Card, ErrorBox, Spinner } from "../../src/components/ui";

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  description?: string;
  items?: Schema;
}
interface Operation {
  tags?: string[];
  summary?: string;
  description?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
interface OpenApi {
  info: { title: string; description?: string; version: string };
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
}

const METHOD_STYLE: Record<string, string> = {
  get: "bg-sky-100 text-sky-800",
  post: "bg-emerald-100 text-emerald-800",
  put: "bg-amber-100 text-amber-800",
  patch: "bg-amber-100 text-amber-800",
  delete: "bg-red-100 text-red-800",
};

function typeOf(s: Schema | undefined): string {
  if (!s) return "";
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.type === "array") return `${typeOf(s.items)}[]`;
  return Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? "object");
}

/** The REST API as the OpenAPI document describes it: every route, its parameters and body fields. */
function ApiDocs() {
  const doc = useQuery({
    queryKey: ["openapi"],
    queryFn: async () => {
      const res = await fetch("/api/openapi.json");
      if (!res.ok) throw new Error(`could not load the API document: HTTP ${res.status}`);
      return (await res.json()) as OpenApi;
    },
  });
  if (doc.isPending) return <Spinner />;
  if (doc.error) return <ErrorBox error={doc.error} />;
  const d = doc.data;
  const byTag = new Map<string, Array<{ method: string; path: string; op: Operation }>>();
  for (const [path, ops] of Object.entries(d.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = op.tags?.[0] ?? "other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), { method, path, op }]);
    }
  }
  const base = d.servers?.[0]?.url ?? "/api/v1";
  const example =
    `curl -H "Authorization: Bearer berth_…" ${base}/hosts\n` +
    `curl -X PUT -H "Authorization: Bearer berth_…" -H "Content-Type: application/json" \\\n` +
    `     -d '{"labels":{"tier":"edge"}}' ${base}/hosts/HOST_ID/labels`;
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">{d.info.title}</h1>
      <p className="text-sm text-slate-700">{d.info.description}</p>
      <Card title="Try it">
        <pre className="overflow-auto rounded bg-slate-950 p-3 font-mono text-xs text-slate-100">{example}</pre>
        <p className="mt-2 text-sm text-slate-600">
          The machine-readable document is at{" "}
          <a className="text-indigo-700 underline" href="/api/openapi.json">
            /api/openapi.json
          </a>
          . Live streams (logs, stats, terminals, events) are WebSockets at <code>/api/streams/&lt;kind&gt;</code>.
        </p>
      </Card>
      {[...byTag.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([tag, ops]) => (
          <Card key={tag} title={tag}>
            <ul className="divide-y divide-slate-100">
              {ops.map(({ method, path, op }) => {
                const body = op.requestBody?.content?.["application/json"]?.schema;
                return (
                  <li
                    key={`${method} ${path}`}
                    className="py-2 text-sm"
                    data-testid="api-route"
                    data-route={`${method.toUpperCase()} ${path}`}
                  >
                    <div className="flex items-center gap-2">
                      <span className={`w-16 rounded px-1.5 py-0.5 text-center font-mono text-xs uppercase ${METHOD_STYLE[method] ?? ""}`}>
                        {method}
                      </span>
                      <code className="font-mono">{path}</code>
                      {op.summary && <span className="text-slate-500">{op.summary}</span>}
                    </div>
                    {(op.parameters?.length || body?.properties) && (
                      <dl className="ml-20 mt-1 grid grid-cols-[max-content_1fr] gap-x-3 text-xs text-slate-600">
                        {op.parameters?.map((p) => (
                          <div key={`${p.in}:${p.name}`} className="contents">
                            <dt className="font-mono">
                              {p.name}
                              {p.required ? "" : "?"}
                            </dt>
                            <dd>
                              {p.in} · {typeOf(p.schema)}
                            </dd>
                          </div>
                        ))}
                        {Object.entries(body?.properties ?? {}).map(([name, s]) => (
                          <div key={`body:${name}`} className="contents">
                            <dt className="font-mono">
                              {name}
                              {body?.required?.includes(name) ? "" : "?"}
                            </dt>
                            <dd>body · {typeOf(s)}</dd>
                          </div>
                        ))}
                      </dl>
                    )}
                  </li>
                );
              })}
            </ul>
          </Card>
        ))}
    </div>
  );
}

export default function ApiDocsPage() {
  return (
    <AppShell>
      <ApiDocs />
    </AppShell>
  );
}
