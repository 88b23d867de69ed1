import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { DomainError } from "../../errors.ts";
import { parseEnvFile } from "./env-file.ts";
import { InterpolationError, interpolate, type Lookup } from "./interpolate.ts";
import { isRecord, mergeCompose, normalizeService } from "./merge.ts";
import { type ComposeFile, ComposeFileSchema } from "./schema.ts";

/*
 * Reads a compose application: every file parsed with `yaml` (positions kept), string values
 * interpolated, files merged in order by the compose-spec's rules, profiles applied, env files
 * read into `environment`, and the result validated by the schema. Nothing stops at the first
 * problem: every one is collected, each with the file, line and column it comes from.
 */

export interface ComposeSource {
  /** The file's path, as the user knows it (shown in errors, the base of relative env files). */
  name: string;
  text: string;
}

export interface ComposeProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export class ComposeError extends DomainError {
  constructor(readonly problems: ComposeProblem[]) {
    super("INVALID", `invalid compose file: ${problems.map(formatProblem).join("; ")}`);
    this.name = "ComposeError";
  }
}

export const formatProblem = (p: ComposeProblem) => `${p.file}:${p.line}:${p.column}: ${p.message}`;

export interface LoadOptions {
  /** Values for interpolation; they win over the project's `.env`, as the shell's do in compose. */
  env?: Record<string, string>;
  /** The project's `.env` (interpolation only, as in compose). */
  dotEnv?: string;
  /** Files a service's `env_file` may name, by path relative to the first compose file's directory. */
  files?: Record<string, string>;
  /** Active profiles: services with `profiles` run only when one of theirs is active. */
  profiles?: string[];
}

export interface ComposeProject {
  name: string | undefined;
  model: ComposeFile;
}

type Path = (string | number)[];
interface Pos {
  file: string;
  line: number;
  column: number;
}

export function loadCompose(sources: ComposeSource[], opts: LoadOptions = {}): ComposeProject {
  if (sources.length === 0) throw new ComposeError([{ file: "(none)", line: 1, column: 1, message: "no compose file given" }]);
  const problems: ComposeProblem[] = [];
  /** Where each value is, and where each mapping key is (for "unknown key"), by path. */
  const positions = new Map<string, Pos>();
  const keyPositions = new Map<string, Pos>();
  const dotEnv = opts.dotEnv === undefined ? { values: {}, problems: [] } : parseEnvFile(opts.dotEnv);
  for (const p of dotEnv.problems) problems.push({ file: ".env", line: p.line, column: 1, message: p.message });
  const lookup: Lookup = (name) => opts.env?.[name] ?? (dotEnv.values as Record<string, string>)[name];

  let merged: Record<string, unknown> = {};
  for (const source of sources) {
    const value = readSource(source, lookup, { values: positions, keys: keyPositions }, problems);
    if (value === undefined) continue;
    if (!isRecord(value)) {
      problems.push({ file: source.name, line: 1, column: 1, message: "a compose file is a mapping (services:, networks:, …)" });
      continue;
    }
    merged = mergeCompose(merged, dropExtensions(value));
  }
  if (problems.length) throw new ComposeError(problems);

  const at = (path: Path): Pos => nearest(positions, path) ?? { file: sources[0]!.name, line: 1, column: 1 };
  const keyAt = (path: Path): Pos => keyPositions.get(pathKey(path)) ?? at(path);
  const services = isRecord(merged.services) ? merged.services : {};
  const active = new Set(opts.profiles ?? []);
  const disabled = new Set<string>();
  for (const [name, svc] of Object.entries(services)) {
    const profiles = isRecord(svc) && Array.isArray(svc.profiles) ? (svc.profiles as unknown[]) : [];
    if (profiles.length && !profiles.some((p) => typeof p === "string" && active.has(p))) disabled.add(name);
  }
  for (const name of disabled) delete services[name];
  for (const [name, svc] of Object.entries(services)) {
    if (!isRecord(svc)) continue;
    readEnvFiles(svc, opts.files ?? {}, at(["services", name, "env_file"]), problems);
  }

  const parsed = ComposeFileSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, at, keyAt));
    throw new ComposeError(problems);
  }
  const model = parsed.data;
  crossCheck(model, disabled, at, keyAt, problems);
  if (problems.length) throw new ComposeError(problems);
  return { name: model.name, model };
}

/** One file to plain values, interpolated, with the position of every key and value. */
function readSource(
  source: ComposeSource,
  lookup: Lookup,
  positions: { values: Map<string, Pos>; keys: Map<string, Pos> },
  problems: ComposeProblem[],
): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(source.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    problems.push({ file: source.name, line, column: col, message: e.message.split("\n")[0]! });
  }
  if (doc.errors.length) return undefined;
  const pos = (node: Node | null | undefined): Pos => {
    const { line, col } = lines.linePos(node?.range?.[0] ?? 0);
    return { file: source.name, line, column: col };
  };
  // Aliases are expanded here, so both are bounded: a file of nested aliases ("billion laughs")
  // is refused instead of filling memory.
  let nodes = 0;
  const walk = (node: unknown, path: Path, depth: number): unknown => {
    if (depth > 64) throw new InterpolationError("the document nests too deep (aliases in a loop?)");
    if (++nodes > MAX_NODES) throw new InterpolationError(`the document expands to over ${MAX_NODES} values (through aliases?)`);
    if (isAlias(node)) return walk(node.resolve(doc as Document), path, depth + 1);
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      const merges: unknown[] = [];
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (key === "<<") {
          merges.push(walk(pair.value, path, depth + 1));
          continue;
        }
        positions.keys.set(pathKey([...path, key]), pos(pair.key as Node));
        positions.values.set(pathKey([...path, key]), pos((pair.value ?? pair.key) as Node));
        out[key] = walk(pair.value, [...path, key], depth + 1);
      }
      // `<<: *base` (YAML merge keys, common in compose files): what the mapping sets wins.
      for (const m of merges.flat()) if (isRecord(m)) for (const [k, v] of Object.entries(m)) if (!(k in out)) out[k] = v;
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => {
        positions.values.set(pathKey([...path, i]), pos(item as Node));
        return walk(item, [...path, i], depth + 1);
      });
    }
    if (isScalar(node)) {
      if (typeof node.value !== "string") return node.value;
      try {
        const text = interpolate(node.value, lookup);
        // A plain scalar that was interpolated is typed again, as compose casts `replicas: ${N}`.
        if (text !== node.value && node.type === "PLAIN") return retype(text);
        return text;
      } catch (e) {
        if (!(e instanceof InterpolationError)) throw e;
        problems.push({ ...pos(node), message: e.message });
        return node.value;
      }
    }
    return node ?? null;
  };
  try {
    return walk(doc.contents, [], 0);
  } catch (e) {
    if (!(e instanceof InterpolationError)) throw e;
    problems.push({ file: source.name, line: 1, column: 1, message: e.message });
    return undefined;
  }
}

const MAX_NODES = 200_000;

function retype(text: string): unknown {
  if (/^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  if (/^-?\d+\.\d+$/.test(text)) return Number(text);
  if (text === "true" || text === "false") return text === "true";
  return text;
}

/** `x-*` keys are the file's own: taken out where compose allows them. */
function dropExtensions(file: Record<string, unknown>): Record<string, unknown> {
  const strip = (m: unknown) => (isRecord(m) ? Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("x-"))) : m);
  const out = strip(file) as Record<string, unknown>;
  for (const section of ["services", "networks", "volumes", "secrets", "configs"]) {
    const s = out[section];
    if (isRecord(s)) {
      out[section] = Object.fromEntries(
        Object.entries(s).map(([name, def]) => [
          name,
          section === "services" && isRecord(def) ? normalizeService(strip(def) as Record<string, unknown>) : strip(def),
        ]),
      );
    }
  }
  return out;
}

/** `env_file:` entries read into `environment` (which wins over them), then dropped. */
function readEnvFiles(svc: Record<string, unknown>, files: Record<string, string>, at: Pos, problems: ComposeProblem[]): void {
  if (svc.env_file === undefined) return;
  const entries = (Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file]) as unknown[];
  const fromFiles: Record<string, string> = {};
  for (const entry of entries) {
    const path = typeof entry === "string" ? entry : isRecord(entry) && typeof entry.path === "string" ? entry.path : null;
    if (path === null) continue; // the schema names it
    const required = !(isRecord(entry) && entry.required === false);
    const text = files[normalizeRelative(path)];
    if (text === undefined) {
      if (required) problems.push({ ...at, message: `env file ${path} not found` });
      continue;
    }
    const parsed = parseEnvFile(text);
    for (const p of parsed.problems) problems.push({ file: path, line: p.line, column: 1, message: p.message });
    Object.assign(fromFiles, parsed.values);
  }
  const env = isRecord(svc.environment) ? svc.environment : {};
  svc.environment = { ...fromFiles, ...env };
  delete svc.env_file;
}

const normalizeRelative = (p: string) => p.replace(/^\.\//, "");

/** References between parts of the file: services named in depends_on, declared networks, volumes, secrets, configs. */
function crossCheck(
  model: ComposeFile,
  disabled: Set<string>,
  at: (p: Path) => Pos,
  keyAt: (p: Path) => Pos,
  problems: ComposeProblem[],
): void {
  const declared = (section: "networks" | "volumes" | "secrets" | "configs") => new Set(Object.keys(model[section] ?? {}));
  const networks = declared("networks");
  const volumes = declared("volumes");
  const secrets = declared("secrets");
  const configs = declared("configs");
  const say = (path: Path, message: string) => problems.push({ ...at(path), message });
  for (const [name, svc] of Object.entries(model.services)) {
    const base: Path = ["services", name];
    if (svc.image === undefined && svc.build === undefined)
      problems.push({ ...keyAt(base), message: `service ${name} has neither an image nor a build` });
    for (const dep of Object.keys(isRecord(svc.depends_on) ? svc.depends_on : {})) {
      if (!(dep in model.services))
        say(
          [...base, "depends_on"],
          disabled.has(dep)
            ? `service ${name} depends on ${dep}, whose profiles are not active`
            : `service ${name} depends on undefined service ${dep}`,
        );
    }
    for (const net of Object.keys(isRecord(svc.networks) ? svc.networks : {}))
      if (net !== "default" && !networks.has(net)) say([...base, "networks"], `service ${name} refers to undefined network ${net}`);
    for (const [i, v] of (svc.volumes ?? []).entries()) {
      const source = typeof v === "string" ? v.split(":")[0]! : v.type === "volume" ? v.source : undefined;
      const named = source && !source.startsWith("/") && !source.startsWith(".") && !source.startsWith("~") && v !== source;
      if (named && !volumes.has(source)) say([...base, "volumes", i], `service ${name} refers to undefined volume ${source}`);
    }
    for (const [kind, known] of [
      ["secrets", secrets],
      ["configs", configs],
    ] as const) {
      for (const [i, ref] of (svc[kind] ?? []).entries()) {
        const source = typeof ref === "string" ? ref : ref.source;
        if (!known.has(source)) say([...base, kind, i], `service ${name} refers to undefined ${kind.slice(0, -1)} ${source}`);
      }
    }
  }
}

function issueProblems(issue: z.core.$ZodIssue, at: (p: Path) => Pos, keyAt: (p: Path) => Pos): ComposeProblem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const where = path.length ? path.join(".") : "(top level)";
  if (issue.code === "unrecognized_keys")
    return issue.keys.map((k) => ({ ...keyAt([...path, k]), message: `${where}: unknown key '${k}' (not supported by Berth)` }));
  if (issue.code === "invalid_union") {
    // The most specific branch's complaint, rather than "invalid input".
    const deepest = issue.errors
      .flat()
      .filter((e) => e.code !== "invalid_type")
      .sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest) return issueProblems({ ...deepest, path: [...issue.path, ...deepest.path] } as z.core.$ZodIssue, at, keyAt);
  }
  return [{ ...at(path), message: `${where}: ${issue.message}` }];
}

const pathKey = (path: Path) => path.join("\u0000");

/** The position recorded for `path`, or for its nearest ancestor that has one. */
function nearest(positions: Map<string, Pos>, path: Path): Pos | undefined {
  for (let n = path.length; n > 0; n--) {
    const p = positions.get(pathKey(path.slice(0, n)));
    if (p) return p;
  }
  return undefined;
}
