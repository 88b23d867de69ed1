import { splitCommandLine } from "@berth/protocol/command-line";
import type { ComposeService } from "./schema.ts";

/* Compose's value forms, read the same way by every target. */

export class ComposeValueError extends Error {
  override name = "ComposeValueError";
}

/** A list-or-mapping as a mapping of strings (a null value, which compose takes from the shell, is left out). */
export function dict(v: string[] | Record<string, string | number | boolean | null> | undefined): Record<string, string> {
  if (!v) return {};
  const entries = Array.isArray(v)
    ? v.map((e) => (e.includes("=") ? [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] : [e, null]))
    : Object.entries(v);
  return Object.fromEntries(entries.filter(([, x]) => x !== null).map(([k, x]) => [k, String(x)]));
}

/** compose's command string: split as a shell would (quotes and backslashes), without running one. */
export function words(v: string | string[]): string[] {
  if (Array.isArray(v)) return v;
  try {
    return splitCommandLine(v);
  } catch (e) {
    throw new ComposeValueError(`${(e as Error).message} in ${JSON.stringify(v)}`);
  }
}

/** `words`, with an unclosed quote reported through `problem` instead of thrown. */
export function commandWords(v: string | string[], problem: (why: string) => void): string[] {
  try {
    return words(v);
  } catch (e) {
    if (!(e instanceof ComposeValueError)) throw e;
    problem(e.message);
    return [];
  }
}

/**
 * The name a top-level network, volume, secret or config has: an external one's own (its
 * `external.name`, `name` or key), otherwise its `name` or the project-scoped key.
 */
export function objectName(
  def: { external?: boolean | { name: string }; name?: string } | null | undefined,
  key: string,
  scoped: (key: string) => string,
): string {
  if (def?.external) return typeof def.external === "object" ? def.external.name : (def.name ?? key);
  return def?.name ?? scoped(key);
}

/** One port of compose's short syntax, ranges expanded. */
export interface ShortPort {
  /** "" for every address. */
  hostIp: string;
  target: number;
  published?: number;
  protocol: "tcp" | "udp";
}

/**
 * compose's short port syntax: `[ip:][published[-end]:]target[-end][/proto]`, with an IPv6
 * address in brackets; a range publishes each of its ports. A bad one is reported through `problem`.
 */
export function shortPorts(spec: string, problem: (why: string) => void): ShortPort[] {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|(\d+\.\d+\.\d+\.\d+)):)?(?:(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(spec);
  if (!m) {
    problem(`invalid port "${spec}"`);
    return [];
  }
  const [, ip6, ip4, pubFrom, pubTo, tFrom, tTo, proto = "tcp"] = m;
  const count = Number(tTo ?? tFrom) - Number(tFrom) + 1;
  if (pubFrom !== undefined && Number(pubTo ?? pubFrom) - Number(pubFrom) + 1 !== count) {
    problem(`port ranges differ in length ("${spec}")`);
    return [];
  }
  return Array.from({ length: Math.max(0, count) }, (_, i) => ({
    hostIp: ip6 ?? ip4 ?? "",
    target: Number(tFrom) + i,
    ...(pubFrom !== undefined ? { published: Number(pubFrom) + i } : {}),
    protocol: proto as "tcp" | "udp",
  }));
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (validated by the schema) in milliseconds. */
export function ms(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNITS[m[2]!]!;
  return Math.round(total);
}

/** A compose size (512m, 1g, 1.5GB, bytes) in bytes; compose's units are binary. */
export function bytes(s: string | number): number {
  if (typeof s === "number") return s;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)/i.exec(s.trim())!;
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}

/** A healthcheck in Docker's shape (durations in nanoseconds; a string test runs in a shell). */
export function healthcheckOf(h: NonNullable<ComposeService["healthcheck"]>) {
  const ns = (d: string) => ms(d) * 1e6; // Docker's healthcheck durations are nanoseconds
  const test = h.disable ? ["NONE"] : h.test === undefined ? undefined : typeof h.test === "string" ? ["CMD-SHELL", h.test] : h.test;
  return {
    ...(test ? { Test: test } : {}),
    ...(h.interval ? { Interval: ns(h.interval) } : {}),
    ...(h.timeout ? { Timeout: ns(h.timeout) } : {}),
    ...(h.retries !== undefined ? { Retries: h.retries } : {}),
    ...(h.start_period ? { StartPeriod: ns(h.start_period) } : {}),
    ...(h.start_interval ? { StartInterval: ns(h.start_interval) } : {}),
  };
}
