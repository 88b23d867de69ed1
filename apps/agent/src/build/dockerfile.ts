// A Dockerfile as the builder runs it: dockerfile-ast parses (continuations, the escape directive,
// heredocs, flags, stages); this module checks what the parser lets through (unknown instructions
// and flags, instructions before FROM) and turns each instruction into plain data.
import { DockerfileParser, type Instruction as AstInstruction } from "dockerfile-ast";
import { BuildError, dockerfileError } from "./errors.ts";

export interface Heredoc {
  name: string;
  content: string;
  /** Unquoted delimiters expand variables in the body (COPY); quoted ones keep it as written. */
  expand: boolean;
}

export interface Instruction {
  keyword: string;
  /** 1-based line of the instruction's first line. */
  line: number;
  /** The arguments after the flags, continuation lines joined; heredoc bodies left out. */
  args: string;
  /** Flags by name, each value in order (`--mount` may repeat); a bare `--flag` has value "". */
  flags: Map<string, string[]>;
  /** The exec (JSON array) form, when the arguments are one. */
  json: string[] | null;
  heredocs: Heredoc[];
}

export interface Stage {
  /** Position among the stages (`COPY --from=0`). */
  index: number;
  /** `AS name`, lower-cased as Docker compares stage names. */
  name: string | null;
  /** The base as written (variables not yet substituted). */
  base: string;
  from: Instruction;
  steps: Instruction[];
}

export interface DockerfilePlan {
  escape: string;
  /** ARGs before the first FROM: they may be used in FROM lines only. */
  globalArgs: Instruction[];
  stages: Stage[];
}

/** The flags each instruction takes, as BuildKit's Dockerfile frontend defines them. */
const FLAGS: Record<string, readonly string[]> = {
  FROM: ["platform"],
  RUN: ["mount", "network", "security"],
  COPY: ["from", "chown", "chmod", "link", "parents", "exclude"],
  ADD: ["chown", "chmod", "checksum", "keep-git-dir", "link", "exclude"],
  HEALTHCHECK: ["interval", "timeout", "start-period", "start-interval", "retries"],
  ARG: [],
  CMD: [],
  ENTRYPOINT: [],
  ENV: [],
  EXPOSE: [],
  LABEL: [],
  MAINTAINER: [],
  ONBUILD: [],
  SHELL: [],
  STOPSIGNAL: [],
  USER: [],
  VOLUME: [],
  WORKDIR: [],
};

export const KNOWN_INSTRUCTIONS = Object.keys(FLAGS);

/** The exec form: a JSON array of strings. Anything else is the shell form, as in Docker. */
export function execForm(args: string): string[] | null {
  const t = args.trim();
  if (!t.startsWith("[")) return null;
  try {
    const v: unknown = JSON.parse(t);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  } catch {
    return null;
  }
}

function heredocsOf(ins: AstInstruction, lines: string[]): Heredoc[] {
  const getter = (ins as unknown as { getHeredocs?: () => ReturnType<typeof Object> }).getHeredocs;
  if (typeof getter !== "function") return [];
  const docs = getter.call(ins) as Array<{
    getName(): string;
    getContentRange(): { start: { line: number }; end: { line: number } } | null;
  }>;
  const firstLine = lines[ins.getRange().start.line] ?? "";
  return docs.map((d) => {
    const name = d.getName();
    const marker = new RegExp(`<<(-?)(["']?)${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\2`).exec(firstLine);
    const chomp = marker?.[1] === "-";
    const range = d.getContentRange();
    let body = range ? lines.slice(range.start.line, range.end.line + 1) : [];
    if (chomp) body = body.map((l) => l.replace(/^\t+/, ""));
    return { name, content: body.length ? `${body.join("\n")}\n` : "", expand: !marker?.[2] };
  });
}

function flagsOf(ins: AstInstruction, keyword: string, line: number): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const getter = (ins as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> }).getFlags;
  if (typeof getter !== "function") return out;
  const allowed = FLAGS[keyword] ?? [];
  for (const f of getter.call(ins)) {
    const name = f.getName();
    if (!allowed.includes(name)) throw dockerfileError(line, `unknown flag: ${name}`);
    out.set(name, [...(out.get(name) ?? []), f.getValue() ?? ""]);
  }
  return out;
}

function toInstruction(ins: AstInstruction, lines: string[]): Instruction {
  const keyword = ins.getKeyword().toUpperCase();
  const line = ins.getRange().start.line + 1;
  if (!(keyword in FLAGS)) throw dockerfileError(line, `unknown instruction: ${ins.getInstruction()}`);
  const flags = flagsOf(ins, keyword, line);
  const heredocs = heredocsOf(ins, lines);
  let args = ins.getArgumentsContent() ?? "";
  // The parser puts the flags of instructions without flag support (ENV --x) in the arguments.
  if (heredocs.length) args = args.split("\n", 1)[0]!;
  args = args.trim();
  return { keyword, line, args, flags, json: heredocs.length ? null : execForm(args), heredocs };
}

/** Parses and checks a Dockerfile; errors name the line. */
export function parseDockerfile(text: string): DockerfilePlan {
  if (Buffer.byteLength(text) > 4 << 20) throw new BuildError("the Dockerfile is larger than 4 MiB", "INVALID");
  const df = DockerfileParser.parse(text);
  const lines = text.split(/\r?\n/);
  const escapeChar = df.getEscapeCharacter();
  const plan: DockerfilePlan = { escape: escapeChar, globalArgs: [], stages: [] };
  for (const ast of df.getInstructions()) {
    const ins = toInstruction(ast, lines);
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter(Boolean);
      const as = words.length === 3 && words[1]!.toUpperCase() === "AS";
      if (words.length !== 1 && !as) throw dockerfileError(ins.line, "FROM requires either one or three arguments");
      const name = as ? words[2]!.toLowerCase() : null;
      if (name !== null && !/^[a-z][a-z0-9-_.]*$/.test(name)) {
        throw dockerfileError(ins.line, `invalid name for build stage: "${name}", name can't start with a number or contain symbols`);
      }
      if (name !== null && plan.stages.some((s) => s.name === name)) throw dockerfileError(ins.line, `duplicate stage name "${name}"`);
      plan.stages.push({ index: plan.stages.length, name, base: words[0]!, from: ins, steps: [] });
      continue;
    }
    const stage = plan.stages[plan.stages.length - 1];
    if (!stage) {
      if (ins.keyword !== "ARG") throw dockerfileError(ins.line, "no build stage in current context");
      plan.globalArgs.push(ins);
      continue;
    }
    stage.steps.push(ins);
  }
  if (plan.stages.length === 0) {
    if (plan.globalArgs.length === 0) throw new BuildError("the Dockerfile cannot be empty", "INVALID");
    throw new BuildError("no build stage in current context: a Dockerfile needs a FROM", "INVALID");
  }
  return plan;
}

/** An ONBUILD trigger as an instruction of its own (a line of the base image's config). */
export function parseTrigger(text: string, line: number): Instruction {
  const [ast] = DockerfileParser.parse(text).getInstructions();
  if (!ast) throw dockerfileError(line, `empty ONBUILD trigger`);
  const ins = toInstruction(ast, text.split(/\r?\n/));
  return { ...ins, line };
}
