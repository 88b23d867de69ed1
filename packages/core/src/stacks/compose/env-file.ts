/**
 * An env file as compose reads one: `KEY=value` lines, blank lines and `#` comments, an optional
 * `export `, values in double quotes (with \n, \t, \", \\ escapes) or single quotes (literal),
 * and ` #` starting a comment after an unquoted value. A bare `KEY` takes nothing here (compose
 * would take it from the shell, which a stack does not have).
 */

export interface EnvFileProblem {
  line: number;
  message: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseEnvFile(text: string): { values: Record<string, string>; problems: EnvFileProblem[] } {
  const values: Record<string, string> = {};
  const problems: EnvFileProblem[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const line = raw.startsWith("export ") ? raw.slice(7).trimStart() : raw;
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!KEY.test(key)) {
      problems.push({ line: n + 1, message: `"${key}" is not a variable name` });
      continue;
    }
    if (eq < 0) continue;
    const value = unquote(line.slice(eq + 1).trim());
    if (value === null) problems.push({ line: n + 1, message: `the value of ${key} has an unclosed quote` });
    else values[key] = value;
  }
  return { values, problems };
}

function unquote(v: string): string | null {
  if (v.startsWith("'")) {
    const end = v.indexOf("'", 1);
    return end < 0 ? null : v.slice(1, end);
  }
  if (v.startsWith('"')) {
    let out = "";
    for (let i = 1; i < v.length; i++) {
      const c = v[i]!;
      if (c === '"') return out;
      if (c === "\\" && i + 1 < v.length) {
        const e = v[++i]!;
        out += e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e;
      } else out += c;
    }
    return null;
  }
  const comment = v.search(/\s#/);
  return (comment < 0 ? v : v.slice(0, comment)).trimEnd();
}
