// The instructions that change only the image's config: no container runs and no layer is made.
import type { ImageConfig } from "../images/index.ts";
import type { Instruction } from "./dockerfile.ts";
import { dockerfileError } from "./errors.ts";
import { keyValues, processWord, processWords, type Vars } from "./words.ts";

export type RunConfig = NonNullable<ImageConfig["config"]>;

export const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** What one stage tracks besides the config: whether CMD was set in it (ENTRYPOINT resets an inherited CMD). */
export interface StageFlags {
  cmdSet: boolean;
}

export const METADATA_INSTRUCTIONS = new Set([
  "ENV",
  "LABEL",
  "EXPOSE",
  "USER",
  "VOLUME",
  "STOPSIGNAL",
  "SHELL",
  "HEALTHCHECK",
  "ONBUILD",
  "CMD",
  "ENTRYPOINT",
  "MAINTAINER",
]);

/** Go's time.ParseDuration for HEALTHCHECK's flags, in nanoseconds. */
export function parseDuration(text: string, line: number, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched += m[0].length;
  }
  if (text === "0") return 0;
  if (!text || matched !== text.length) throw dockerfileError(line, `invalid duration ${JSON.stringify(text)} for --${flag}`);
  return Math.round(total);
}

/** A command in exec form as written, or the shell form run by the stage's SHELL. */
export function commandOf(ins: Instruction, shell: readonly string[]): string[] {
  return ins.json ?? [...shell, ins.args];
}

/** How an instruction shows in history and the cache key: classic builder's `#(nop)` form. */
export function nopCreatedBy(ins: Instruction, shown: string): string {
  return `/bin/sh -c #(nop)  ${ins.keyword} ${shown}`;
}

/**
 * Applies a metadata instruction to `cfg` (a copy is returned) and says how it shows in history.
 * `vars` holds the stage's ARG and ENV values for substitution.
 */
export function applyMetadata(
  cfg: RunConfig,
  ins: Instruction,
  vars: Vars,
  escapeChar: string,
  flags: StageFlags,
): { config: RunConfig; shown: string } {
  const c: RunConfig = { ...cfg };
  const line = ins.line;
  const shell = c.Shell ?? DEFAULT_SHELL;
  switch (ins.keyword) {
    case "ENV": {
      const pairs = keyValues(ins.args, vars, escapeChar);
      const env = new Map((c.Env ?? []).map((e) => [e.split("=", 1)[0]!, e] as const));
      for (const [k, v] of pairs) env.set(k, `${k}=${v ?? ""}`);
      c.Env = [...env.values()];
      return { config: c, shown: pairs.map(([k, v]) => `${k}=${v ?? ""}`).join(" ") };
    }
    case "LABEL": {
      const pairs = keyValues(ins.args, vars, escapeChar);
      c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(pairs.map(([k, v]) => [k, v ?? ""])) };
      return { config: c, shown: pairs.map(([k, v]) => `${k}=${JSON.stringify(v ?? "")}`).join(" ") };
    }
    case "MAINTAINER":
      return { config: c, shown: processWord(ins.args, vars, escapeChar) };
    case "EXPOSE": {
      const ports = { ...(c.ExposedPorts ?? {}) };
      for (const word of processWords(ins.args, vars, escapeChar)) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
        if (!m) throw dockerfileError(line, `invalid containerPort: ${word}`);
        const from = Number(m[1]);
        const to = m[2] ? Number(m[2]) : from;
        if (from < 1 || to > 65535 || to < from) throw dockerfileError(line, `invalid port range: ${word}`);
        for (let p = from; p <= to; p++) ports[`${p}/${(m[3] ?? "tcp").toLowerCase()}`] = {};
      }
      c.ExposedPorts = ports;
      return { config: c, shown: Object.keys(ports).join(" ") };
    }
    case "USER": {
      const user = processWord(ins.args, vars, escapeChar);
      if (!user) throw dockerfileError(line, "USER requires exactly one argument");
      c.User = user;
      return { config: c, shown: user };
    }
    case "VOLUME": {
      const vols = ins.json ?? processWords(ins.args, vars, escapeChar);
      if (vols.length === 0 || vols.some((v) => !v.trim())) throw dockerfileError(line, "VOLUME specified can not be an empty string");
      c.Volumes = { ...(c.Volumes ?? {}), ...Object.fromEntries(vols.map((v) => [v, {}])) };
      return { config: c, shown: `[${vols.join(" ")}]` };
    }
    case "STOPSIGNAL": {
      const sig = processWord(ins.args, vars, escapeChar);
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(sig)) throw dockerfileError(line, `invalid signal: ${sig}`);
      c.StopSignal = sig;
      return { config: c, shown: sig };
    }
    case "SHELL": {
      if (!ins.json || ins.json.length === 0) throw dockerfileError(line, "SHELL requires the arguments to be in JSON form");
      c.Shell = ins.json;
      return { config: c, shown: JSON.stringify(ins.json) };
    }
    case "CMD":
      c.Cmd = commandOf(ins, shell);
      flags.cmdSet = true;
      return { config: c, shown: JSON.stringify(c.Cmd) };
    case "ENTRYPOINT":
      c.Entrypoint = ins.json ?? (ins.args ? [...shell, ins.args] : null);
      if (!flags.cmdSet) c.Cmd = null;
      return { config: c, shown: JSON.stringify(c.Entrypoint) };
    case "ONBUILD": {
      const trigger = ins.args.trim();
      const kw = trigger.split(/\s+/, 1)[0]!.toUpperCase();
      if (kw === "ONBUILD") throw dockerfileError(line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (kw === "FROM" || kw === "MAINTAINER") throw dockerfileError(line, `${kw} isn't allowed as an ONBUILD trigger`);
      c.OnBuild = [...(c.OnBuild ?? []), trigger];
      return { config: c, shown: trigger };
    }
    case "HEALTHCHECK":
      return healthcheck(c, ins);
    default:
      throw dockerfileError(line, `${ins.keyword} is not a metadata instruction`);
  }
}

function healthcheck(c: RunConfig, ins: Instruction): { config: RunConfig; shown: string } {
  const line = ins.line;
  const words = ins.args.trim();
  if (/^NONE$/i.test(words)) {
    if (ins.flags.size) throw dockerfileError(line, "HEALTHCHECK NONE takes no options");
    c.Healthcheck = { Test: ["NONE"] };
    return { config: c, shown: "NONE" };
  }
  const m = /^CMD\s+([\s\S]+)$/i.exec(words);
  if (!m) throw dockerfileError(line, "HEALTHCHECK takes NONE, or [OPTIONS] CMD command");
  const json = tryJson(m[1]!);
  const test = json ? ["CMD", ...json] : ["CMD-SHELL", m[1]!.trim()];
  const hc: Record<string, unknown> = { Test: test };
  const flag = (name: string) => ins.flags.get(name)?.at(-1);
  for (const [name, key] of [
    ["interval", "Interval"],
    ["timeout", "Timeout"],
    ["start-period", "StartPeriod"],
    ["start-interval", "StartInterval"],
  ] as const) {
    const v = flag(name);
    if (v !== undefined) hc[key] = parseDuration(v, line, name);
  }
  const retries = flag("retries");
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw dockerfileError(line, `invalid --retries value ${JSON.stringify(retries)}`);
    hc.Retries = Number(retries);
  }
  c.Healthcheck = hc;
  return { config: c, shown: JSON.stringify(hc) };
}

function tryJson(text: string): string[] | null {
  try {
    const v: unknown = JSON.parse(text.trim());
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  } catch {
    return null;
  }
}
