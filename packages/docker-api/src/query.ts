import { badRequest } from "./errors.ts";

/** Docker's boolean query values: 1/true/True are true; 0/false/empty are false; absent is `fallback`. */
export function boolParam(q: URLSearchParams, key: string, fallback = false): boolean {
  const v = q.get(key);
  if (v === null) return fallback;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no|)$/i.test(v)) return false;
  throw badRequest(`invalid boolean value for ${key}: ${JSON.stringify(v)}`);
}

/** An integer query value within bounds, or `fallback` when absent. */
export function intParam(q: URLSearchParams, key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = q.get(key);
  if (v === null || v === "") return fallback;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${key}: ${JSON.stringify(v)} is not an integer`);
  const n = Number(v);
  if (n < min || n > max) throw badRequest(`invalid value for ${key}: ${n} is out of range (${min}..${max})`);
  return n;
}

/** Unix seconds from Docker's timestamp parameters: seconds with optional fraction (the CLI converts durations and dates to these). */
export function timeParam(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === "" || v === "0") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw badRequest(`invalid value for ${key}: ${JSON.stringify(v)} is not a timestamp`);
  return t / 1000;
}

export type Filters = Map<string, string[]>;

/**
 * Docker's `filters` parameter: JSON `{"name":["web"]}`, or the older `{"name":{"web":true}}`.
 * Only the keys in `allowed` are accepted, as dockerd refuses unknown filters.
 */
export function filtersParam(q: URLSearchParams, allowed: readonly string[]): Filters {
  const raw = q.get("filters");
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filter: ${JSON.stringify(raw)} is not JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw badRequest("invalid filter: expected an object of filter names to values");
  for (const [k, v] of Object.entries(parsed)) {
    if (!allowed.includes(k)) throw badRequest(`invalid filter '${k}'`);
    let values: string[];
    if (Array.isArray(v)) values = v.map(String);
    else if (typeof v === "object" && v !== null)
      values = Object.entries(v)
        .filter(([, on]) => on === true)
        .map(([name]) => name);
    else throw badRequest(`invalid filter '${k}': expected a list of values`);
    out.set(k, values);
  }
  return out;
}

/** Whether a filter holds: absent, or one of its values passes `test` (dockerd ORs a filter's values). */
export function anyFilter(f: Filters, key: string, test: (value: string) => boolean): boolean {
  const values = f.get(key);
  return !values?.length || values.some(test);
}

/** `label` filter values: `key` or `key=value`, matched against a label map. */
export function labelsMatch(labels: Record<string, string> | null | undefined, wanted: string[] | undefined, negate = false): boolean {
  if (!wanted?.length) return true;
  const l = labels ?? {};
  return wanted.every((w) => {
    const eq = w.indexOf("=");
    const hit = eq < 0 ? w in l : l[w.slice(0, eq)] === w.slice(eq + 1);
    return negate ? !hit : hit;
  });
}
