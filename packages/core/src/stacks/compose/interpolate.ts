/**
 * The compose-spec's interpolation of `$VAR` and `${VAR…}` in string values:
 * - `${VAR:-default}` / `${VAR-default}`: the default when VAR is unset or empty / unset;
 * - `${VAR:?message}` / `${VAR?message}`: an error when VAR is unset or empty / unset;
 * - `${VAR:+other}` / `${VAR+other}`: `other` when VAR is set and not empty / set;
 * - `$$` is a literal `$`.
 * Defaults and the other words may hold interpolations of their own (`${A:-${B}}`).
 */

export class InterpolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterpolationError";
  }
}

export type Lookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, lookup: Lookup): string {
  if (!text.includes("$")) return text;
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
    } else if (next === "{") {
      const end = closingBrace(text, i + 2);
      out += braced(text.slice(i + 2, end), lookup);
      i = end + 1;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (!name) throw new InterpolationError(`invalid interpolation format in "${text}": a "$" must start a variable or be written "$$"`);
      out += lookup(name) ?? "";
      i += 1 + name.length;
    }
  }
  return out;
}

/** The index of the `}` that closes a `${` whose body starts at `from`, nested ones skipped. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "$") i++;
    else if (text[i] === "$" && text[i + 1] === "{") {
      depth++;
      i++;
    } else if (text[i] === "}" && --depth === 0) return i;
  }
  throw new InterpolationError(`invalid interpolation format in "${text}": a "\${" is never closed`);
}

/** The body of one `${…}`. */
function braced(body: string, lookup: Lookup): string {
  const name = NAME.exec(body)?.[0];
  if (!name) throw new InterpolationError(`invalid interpolation format: "\${${body}}" does not start with a variable name`);
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === "") return value ?? "";
  const colon = rest.startsWith(":");
  const op = rest[colon ? 1 : 0];
  const word = rest.slice(colon ? 2 : 1);
  // With a colon, an empty value counts as unset.
  const unset = value === undefined || (colon && value === "");
  switch (op) {
    case "-":
      return unset ? interpolate(word, lookup) : value!;
    case "?":
      if (unset) {
        const why = interpolate(word, lookup);
        throw new InterpolationError(
          `required variable ${name} is ${value === undefined ? "missing a value" : "empty"}${why ? `: ${why}` : ""}`,
        );
      }
      return value!;
    case "+":
      return unset ? "" : interpolate(word, lookup);
    default:
      throw new InterpolationError(
        `invalid interpolation format: "\${${body}}" (after the name, expected "}", ":-", "-", ":?", "?", ":+" or "+")`,
      );
  }
}
