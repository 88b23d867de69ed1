/*
 * The compose-spec's rules for merging files given in order: mappings merge key by key,
 * sequences append, scalars are replaced; except that `command`, `entrypoint` and
 * `healthcheck.test` are replaced whole, and `ports`, `volumes`, `secrets` and `configs` keep
 * one entry per unique key (a later entry with the same key replaces the earlier one).
 * Forms that have a list and a mapping spelling (`environment`, `labels`, `depends_on`,
 * `networks`) are brought to the mapping first, so a list in one file and a mapping in the next
 * merge by key.
 */

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** `["A=1", "B"]` → `{A: "1", B: null}`; a mapping is kept. */
function listToDict(v: unknown, separator = "="): unknown {
  if (!Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const item of v) {
    if (typeof item !== "string") return v; // left for the schema to name
    const at = item.indexOf(separator);
    if (at < 0) out[item] = null;
    else out[item.slice(0, at)] = item.slice(at + separator.length);
  }
  return out;
}

/** One service in its merge-ready forms. */
export function normalizeService(svc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...svc };
  if (out.environment !== undefined) out.environment = listToDict(out.environment);
  if (out.labels !== undefined) out.labels = listToDict(out.labels);
  if (isRecord(out.deploy) && out.deploy.labels !== undefined) out.deploy = { ...out.deploy, labels: listToDict(out.deploy.labels) };
  if (Array.isArray(out.depends_on) && out.depends_on.every((d) => typeof d === "string"))
    out.depends_on = Object.fromEntries(out.depends_on.map((d) => [d, { condition: "service_started" }]));
  if (Array.isArray(out.networks) && out.networks.every((n) => typeof n === "string"))
    out.networks = Object.fromEntries(out.networks.map((n) => [n, null]));
  for (const key of ["dns", "dns_search", "tmpfs", "env_file"]) if (typeof out[key] === "string") out[key] = [out[key]];
  return out;
}

const REPLACED = new Set(["command", "entrypoint"]);

/** The unique key of an entry of `ports`, `volumes`, `secrets` or `configs`. */
const UNIQUE: Record<string, (entry: unknown) => string> = {
  ports: (p) => (isRecord(p) ? `${p.host_ip ?? ""}|${p.target}|${p.published ?? ""}|${p.protocol ?? "tcp"}` : String(p)),
  volumes: (v) => (isRecord(v) ? String(v.target) : (String(v).split(":")[1] ?? String(v))),
  secrets: (s) => (isRecord(s) ? String(s.target ?? s.source) : String(s)),
  configs: (c) => (isRecord(c) ? String(c.target ?? c.source) : String(c)),
};

export function mergeCompose(base: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  return mergeValue(base, next, []) as Record<string, unknown>;
}

function mergeValue(base: unknown, next: unknown, path: string[]): unknown {
  if (base === undefined) return next;
  const inService = path.length === 3 && path[0] === "services";
  const key = path[path.length - 1] ?? "";
  if (inService && REPLACED.has(key)) return next;
  if (path.length === 4 && path[0] === "services" && path[2] === "healthcheck" && key === "test") return next;
  if (inService && UNIQUE[key] && Array.isArray(base) && Array.isArray(next)) {
    const keyOf = UNIQUE[key]!;
    const out = new Map<string, unknown>(base.map((e) => [keyOf(e), e]));
    for (const e of next) out.set(keyOf(e), e);
    return [...out.values()];
  }
  if (Array.isArray(base) && Array.isArray(next)) return [...base, ...next];
  if (isRecord(base) && isRecord(next)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(next)) out[k] = mergeValue(base[k], v, [...path, k]);
    return out;
  }
  return next;
}
