import { badRequest, DockerApiError } from "@berth/docker-api";
import type { FleetRequest } from "./context.ts";

/*
 * Where `docker run` on the fleet endpoint puts a container: classic Swarm's rules. Constraints
 * come as environment entries (`-e constraint:node==h2`, `-e constraint:zone!=b`; `node` is the
 * host's name, any other key a host label; `*` globs) or as a `com.berth.constraints` label
 * (the same expressions, comma separated). Among the hosts that pass, the one running the fewest
 * containers wins (Swarm's spread). The constraint entries are not passed to the container.
 */

const ENV_CONSTRAINT = /^constraint:([A-Za-z0-9_.\-/]+)(==|!=)(.*)$/;
export const CONSTRAINTS_LABEL = "com.berth.constraints";

interface Constraint {
  key: string;
  equal: boolean;
  pattern: RegExp;
}

function parse(expr: string): Constraint {
  const m = /^\s*([A-Za-z0-9_.\-/]+)\s*(==|!=)\s*(.+?)\s*$/.exec(expr);
  if (!m) throw badRequest(`invalid constraint ${JSON.stringify(expr)}: use key==value or key!=value`);
  const glob = m[3]!.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return { key: m[1]!, equal: m[2] === "==", pattern: new RegExp(`^${glob}$`) };
}

type Config = { Env?: string[] | null; Labels?: Record<string, string> | null } & Record<string, unknown>;

export async function placeContainer<C extends Config>(r: FleetRequest, config: C) {
  const constraints: Constraint[] = [];
  const env: string[] = [];
  for (const e of config.Env ?? []) {
    const m = ENV_CONSTRAINT.exec(e);
    if (m) constraints.push(parse(`${m[1]}${m[2]}${m[3]}`));
    else env.push(e);
  }
  for (const expr of (config.Labels?.[CONSTRAINTS_LABEL] ?? "").split(",").filter((x) => x.trim())) constraints.push(parse(expr));
  const operatorTeams = new Set(r.ctx.memberships.filter((m) => m.role !== "viewer").map((m) => m.teamId));
  const hosts = (await r.api.hosts.list()).filter((h) => operatorTeams.has(h.teamId));
  if (hosts.length === 0)
    throw new DockerApiError(403, "this credential may run containers on no host: it needs the operator role in a team with hosts");
  const eligible = hosts.filter(
    (h) =>
      h.connected &&
      h.availability === "active" &&
      constraints.every((c) => {
        const value = c.key === "node" ? h.name : h.labels[c.key];
        const hit = value !== undefined && c.pattern.test(value);
        return c.equal ? hit : !hit;
      }),
  );
  if (eligible.length === 0)
    throw new DockerApiError(
      503,
      constraints.length
        ? `no online, active host satisfies the constraints ${constraints.map((c) => `${c.key}${c.equal ? "==" : "!="}${c.pattern.source.slice(1, -1)}`).join(", ")}`
        : "no online, active host to run the container on",
    );
  const running = new Map<string, number>();
  for (const h of eligible)
    running.set(h.id, (await r.api.fleet.list({ kind: "container", hostId: h.id, state: "running", limit: 1 })).total);
  const host = eligible.sort((a, b) => running.get(a.id)! - running.get(b.id)! || a.name.localeCompare(b.name))[0]!;
  return { host, config: { ...config, Env: env } };
}
