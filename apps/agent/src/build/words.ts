// Docker's word processing for Dockerfile arguments: quotes, the escape character and variable
// substitution ($VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}, ${VAR-word}, ${VAR+word}, ${VAR:?msg}).
// RUN, CMD and ENTRYPOINT are not processed here: their shell does it.
import { BuildError } from "./errors.ts";

export type Vars = ReadonlyMap<string, string>;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Lexer {
  i = 0;
  constructor(
    readonly s: string,
    readonly vars: Vars,
    readonly escapeChar: string,
    /** Variables the text used, for the cache key of a step. */
    readonly used: Set<string>,
    /** Whether quotes are syntax (words) or text (a heredoc's body). */
    readonly quotes = true,
  ) {}

  peek(): string | undefined {
    return this.s[this.i];
  }

  /** Processes until `stop` matches the next char (not consumed), or the end. */
  word(stop: (c: string) => boolean): string {
    let out = "";
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (stop(c)) break;
      if (c === this.escapeChar) {
        const next = this.s[this.i + 1];
        // In a heredoc's body only `\$` is an escapeChar; elsewhere the escapeChar character takes any next char.
        if (this.quotes || next === "$") {
          this.i++;
          if (this.i < this.s.length) out += this.s[this.i++];
          continue;
        }
      }
      if (c === "'" && this.quotes) {
        this.i++;
        const end = this.s.indexOf("'", this.i);
        if (end < 0) throw new BuildError("unexpected end of statement while looking for matching single-quote", "INVALID");
        out += this.s.slice(this.i, end);
        this.i = end + 1;
        continue;
      }
      if (c === '"' && this.quotes) {
        this.i++;
        out += this.doubleQuoted();
        continue;
      }
      if (c === "$") {
        out += this.variable();
        continue;
      }
      out += c;
      this.i++;
    }
    return out;
  }

  private doubleQuoted(): string {
    let out = "";
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) throw new BuildError("unexpected end of statement while looking for matching double-quote", "INVALID");
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === "$") {
        out += this.variable();
        continue;
      }
      if (c === this.escapeChar) {
        const next = this.s[this.i + 1];
        if (next === '"' || next === "$" || next === this.escapeChar) {
          out += next;
          this.i += 2;
          continue;
        }
      }
      out += c;
      this.i++;
    }
  }

  private lookup(name: string): string | undefined {
    this.used.add(name);
    return this.vars.get(name);
  }

  private variable(): string {
    this.i++; // $
    const c = this.s[this.i];
    if (c === "{") {
      this.i++;
      const name = this.name();
      if (!name) throw new BuildError(`bad substitution: missing variable name in ${JSON.stringify(this.s)}`, "INVALID");
      const value = this.lookup(name);
      if (this.peek() === "}") {
        this.i++;
        return value ?? "";
      }
      let op = this.s[this.i++] ?? "";
      if (op === ":") op += this.s[this.i++] ?? "";
      if (!["-", "+", "?", ":-", ":+", ":?"].includes(op)) {
        throw new BuildError(`unsupported modifier (${op}) in substitution`, "INVALID");
      }
      const word = this.word((ch) => ch === "}");
      if (this.peek() !== "}") throw new BuildError("missing '}' in substitution", "INVALID");
      this.i++;
      const set = value !== undefined && (!op.startsWith(":") || value !== "");
      switch (op.replace(":", "")) {
        case "-":
          return set ? value! : word;
        case "+":
          return set ? word : "";
        default:
          if (!set) throw new BuildError(`${name}: ${word || "is not allowed to be unset"}`, "INVALID");
          return value!;
      }
    }
    if (c !== undefined && NAME_START.test(c)) return this.lookup(this.name()) ?? "";
    return "$";
  }

  private name(): string {
    const start = this.i;
    while (this.i < this.s.length && NAME_CHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }
}

/** One word: quotes removed, escapes applied and variables substituted. */
export function processWord(text: string, vars: Vars, escapeChar: string, used: Set<string> = new Set()): string {
  return new Lexer(text, vars, escapeChar, used).word(() => false);
}

/** Variables substituted in text whose quotes are its own (an unquoted heredoc's body). */
export function expandVariables(text: string, vars: Vars, escapeChar: string, used: Set<string> = new Set()): string {
  return new Lexer(text, vars, escapeChar, used, false).word(() => false);
}

/** Whitespace-separated words (outside quotes), each processed as processWord does. */
export function processWords(text: string, vars: Vars, escapeChar: string, used: Set<string> = new Set()): string[] {
  const lx = new Lexer(text, vars, escapeChar, used);
  const out: string[] = [];
  for (;;) {
    while (lx.i < text.length && /\s/.test(text[lx.i]!)) lx.i++;
    if (lx.i >= text.length) return out;
    out.push(lx.word((c) => /\s/.test(c)));
  }
}

/**
 * `KEY=VALUE …` pairs (ENV, LABEL, ARG), or the legacy single `KEY VALUE` form, with each value
 * processed. A key without `=` is allowed only where `bareKeys` (ARG): its value is then undefined.
 */
export function keyValues(
  text: string,
  vars: Vars,
  escapeChar: string,
  opts: { bareKeys?: boolean; used?: Set<string> } = {},
): Array<[string, string | undefined]> {
  const used = opts.used ?? new Set<string>();
  const t = text.trim();
  const first = /^[^\s=]+/.exec(t)?.[0] ?? "";
  if (!opts.bareKeys && !t.slice(first.length).startsWith("=")) {
    // Legacy form: the first word is the key and the rest of the line its value.
    const rest = t.slice(first.length).trim();
    if (!first || !rest) throw new BuildError("requires at least one argument, in the form KEY=VALUE", "INVALID");
    return [[processWord(first, vars, escapeChar, used), processWord(rest, vars, escapeChar, used)]];
  }
  // Split first with quotes kept, then process each KEY=VALUE word as a whole.
  const raw = splitKeepingQuotes(t, escapeChar);
  return raw.map((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) {
      if (!opts.bareKeys) throw new BuildError(`syntax error - can't find = in "${w}". Must be of the form: name=value`, "INVALID");
      return [processWord(w, vars, escapeChar, used), undefined];
    }
    if (eq === 0) throw new BuildError(`syntax error - a key is missing in "${w}"`, "INVALID");
    return [processWord(w.slice(0, eq), vars, escapeChar, used), processWord(w.slice(eq + 1), vars, escapeChar, used)];
  });
}

/** Splits on whitespace outside quotes, leaving quotes and escapes in place for processWord. */
export function splitKeepingQuotes(text: string, escapeChar: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escapeChar && quote !== "'" && i + 1 < text.length) {
      cur += c + text[++i];
      continue;
    }
    if (quote) {
      if (c === quote) quote = null;
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      cur += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (cur) out.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  if (quote) throw new BuildError(`unmatched ${quote} in ${JSON.stringify(text)}`, "INVALID");
  if (cur) out.push(cur);
  return out;
}
