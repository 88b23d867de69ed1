import type { z } from "zod";

/**
 * What an agent sends back (replies, progress, stream data) is checked at the control plane's
 * edge with these, so nothing past the edge holds a value whose type was only asserted.
 */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parses `value` with `schema`; never throws. The reason names the first bad field: `0.State: …`. */
export function check<S extends z.ZodType>(schema: S, value: unknown): Checked<z.output<S>> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `${issue?.path.map(String).join(".") || "(root)"}: ${issue?.message ?? "invalid"}` };
}

/**
 * `check` with the schema looked up in a table by a generic key (a command's, a stream kind's),
 * the result typed by that key's schema. (Passing `table[key]` to `check` directly loses the
 * key: zod's types do not let TypeScript relate a generic lookup to its schema.)
 */
export function checkEntry<K extends PropertyKey, T extends Record<K, z.ZodType>>(
  table: T,
  key: K,
  value: unknown,
): Checked<z.output<T[K]>> {
  return check<T[K]>(table[key], value);
}

/** `table[key].parse(value)`, typed as checkEntry is; throws the ZodError (for callers that list every issue). */
export function parseEntry<K extends PropertyKey, T extends Record<K, z.ZodType>>(table: T, key: K, value: unknown): z.output<T[K]> {
  return parseWith<T[K]>(table[key], value);
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  return schema.parse(value);
}

/** The declared properties of T, without its index signatures. */
type Declared<T> = { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/**
 * What a sender may hand over for a schema's input type: loose objects' open index signatures
 * closed (records stay records). An interface has no index signature, so it could never match a
 * loose object's type as is; against this it is checked field by field, while at run time the
 * fields the schema does not name still pass through.
 */
export type Sendable<T> = T extends readonly unknown[]
  ? { [I in keyof T]: Sendable<T[I]> }
  : T extends object
    ? [keyof Declared<T>] extends [never]
      ? { [K in keyof T]: Sendable<T[K]> }
      : { [K in keyof Declared<T>]: Sendable<Declared<T>[K]> }
    : T;
