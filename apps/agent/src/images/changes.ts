// Dockerfile-style `--change` instructions for import and commit, as Docker accepts them.
import type { ImageConfig } from "./config.ts";
import { ImageError } from "./errors.ts";

const ALLOWED = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]);

type RunConfig = NonNullable<ImageConfig["config"]>;

/** JSON array form, or shell form run by /bin/sh -c, as in a Dockerfile. */
function commandForm(arg: string): string[] {
  const t = arg.trim();
  if (t.startsWith("[")) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    } catch {
      // not JSON after all: shell form, as Docker does
    }
  }
  return ["/bin/sh", "-c", t];
}

/** `K=V K2="V 2"` or the legacy `K V` form. */
function keyValues(arg: string, instr: string): Array<[string, string]> {
  const t = arg.trim();
  if (!/^[^\s=]+=/.test(t)) {
    const m = /^(\S+)\s+(.*)$/.exec(t);
    if (!m) throw new ImageError(`${instr} names a key without a value`, "INVALID");
    return [[m[1]!, m[2]!]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  let consumed = "";
  for (let m = re.exec(t); m; m = re.exec(t)) {
    out.push([m[1]!, m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : (m[4] ?? m[5] ?? "")]);
    consumed += m[0];
  }
  if (consumed.replace(/\s/g, "").length !== t.replace(/\s/g, "").length)
    throw new ImageError(`${instr}: cannot parse ${JSON.stringify(t)}`, "INVALID");
  return out;
}

export function applyChanges(config: RunConfig, changes: string[]): RunConfig {
  const c: RunConfig = { ...config };
  for (const line of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(line);
    if (!m) throw new ImageError(`invalid change ${JSON.stringify(line)}`, "INVALID");
    const instr = m[1]!.toUpperCase();
    const arg = m[2]!;
    if (!ALLOWED.has(instr)) throw new ImageError(`${instr} is not a valid change command`, "INVALID");
    switch (instr) {
      case "CMD":
        c.Cmd = commandForm(arg);
        break;
      case "ENTRYPOINT":
        c.Entrypoint = commandForm(arg);
        break;
      case "ENV": {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of keyValues(arg, "ENV")) {
          const i = env.findIndex((e) => e.startsWith(`${k}=`));
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case "LABEL":
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(keyValues(arg, "LABEL")) };
        break;
      case "EXPOSE": {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of arg.trim().split(/\s+/).filter(Boolean)) {
          const mm = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!mm || Number(mm[1]) > 65535) throw new ImageError(`invalid containerPort: ${p}`, "INVALID");
          ports[`${Number(mm[1])}/${(mm[2] ?? "tcp").toLowerCase()}`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case "WORKDIR":
        c.WorkingDir = arg.trim();
        break;
      case "USER":
        c.User = arg.trim();
        break;
      case "STOPSIGNAL":
        c.StopSignal = arg.trim();
        break;
      case "VOLUME": {
        const vols = { ...(c.Volumes ?? {}) };
        const t = arg.trim();
        const list = t.startsWith("[") ? (JSON.parse(t) as string[]) : t.split(/\s+/).filter(Boolean);
        for (const v of list) vols[v] = {};
        c.Volumes = vols;
        break;
      }
      case "ONBUILD":
        c.OnBuild = [...(c.OnBuild ?? []), arg.trim()];
        break;
    }
  }
  return c;
}
