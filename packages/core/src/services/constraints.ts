/*
 * Placement constraints, Swarm's syntax: `<key>==<value>` or `<key>!=<value>`, every one must
 * hold. Keys: node.id, node.hostname (the host's name in Berth), node.role (every Berth host is a
 * worker; the control plane runs no tasks), node.platform.os, node.platform.arch and
 * node.labels.<label>. Values compare case-insensitively, as Swarm's do. Architectures compare
 * by meaning: x86_64 and amd64 are one, as are aarch64 and arm64 (Swarm's docs write x86_64,
 * OCI platforms amd64; users write either).
 */

export class ConstraintError extends Error {
  override name = "ConstraintError";
}

export interface Constraint {
  key: string;
  op: "==" | "!=";
  value: string;
  /** The expression as written, for messages. */
  text: string;
}

/** What a constraint can look at on a host. */
export interface HostAttributes {
  id: string;
  name: string;
  labels: Record<string, string>;
  os: string;
  arch: string;
}

const FIXED_KEYS = ["node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"];
const LABEL_PREFIX = "node.labels.";

export function parseConstraint(text: string): Constraint {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (!m) throw new ConstraintError(`constraint "${text}" is not <key>==<value> or <key>!=<value>`);
  const key = m[1]!;
  const value = m[3]!;
  if (!FIXED_KEYS.includes(key) && !(key.startsWith(LABEL_PREFIX) && key.length > LABEL_PREFIX.length)) {
    const hint = key.startsWith("engine.labels.") ? " (Berth hosts have node labels, not engine labels)" : "";
    throw new ConstraintError(`constraint "${text}": unknown key ${key}${hint}; use ${FIXED_KEYS.join(", ")} or node.labels.<label>`);
  }
  if (value === "") throw new ConstraintError(`constraint "${text}" has no value`);
  return { key, op: m[2] as "==" | "!=", value, text };
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  // Node's names, which the agents' facts carry.
  x64: "amd64",
  ia32: "386",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  i386: "386",
  i686: "386",
};
/** One name per architecture (OCI's): x86_64 → amd64, aarch64 → arm64. */
export const normalArch = (a: string) => ARCH_ALIASES[a.toLowerCase()] ?? a.toLowerCase();

/** The host's value for a constraint key; undefined for a label the host does not have. */
function attribute(host: HostAttributes, key: string): string | undefined {
  switch (key) {
    case "node.id":
      return host.id;
    case "node.hostname":
      return host.name;
    case "node.role":
      return "worker";
    case "node.platform.os":
      return host.os;
    case "node.platform.arch":
      return normalArch(host.arch);
    default:
      return host.labels[key.slice(LABEL_PREFIX.length)];
  }
}

export function constraintHolds(c: Constraint, host: HostAttributes): boolean {
  const actual = attribute(host, c.key);
  const wanted = c.key === "node.platform.arch" ? normalArch(c.value) : c.value;
  // A missing label equals nothing, so `!=` holds on a host without it (Swarm's rule).
  const equal = actual !== undefined && actual.toLowerCase() === wanted.toLowerCase();
  return c.op === "==" ? equal : !equal;
}

/** The first constraint `host` fails, or undefined when it passes them all. */
export function failedConstraint(constraints: readonly Constraint[], host: HostAttributes): Constraint | undefined {
  return constraints.find((c) => !constraintHolds(c, host));
}
