import type { Db } from "@berth/db";
import { conflict } from "../errors.ts";
import type { ServiceSpec } from "./spec.ts";

/** Where the routing mesh picks a published port a service leaves out: Swarm's range. */
export const INGRESS_PORT_RANGE = { first: 30_000, last: 32_767 } as const;

/**
 * Fills in the published port of each ingress port that has none, as Swarm does: the one the
 * service had for that target and protocol (an update keeps it), else the lowest free in
 * INGRESS_PORT_RANGE among the team's services (every host of the team opens them).
 */
export async function assignIngressPorts(
  db: Db,
  teamId: string,
  serviceId: string | null,
  spec: ServiceSpec,
  current?: ServiceSpec,
): Promise<ServiceSpec> {
  if (!spec.endpoint.ports.some((p) => p.publishMode === "ingress" && p.published === undefined)) return spec;
  const rows = await db.$queryRaw<{ ports: unknown }[]>`
    select v.spec->'endpoint'->'ports' as ports
    from service s join service_version v on v."serviceId" = s.id and v.version = s.version
    where s."teamId" = ${teamId} and s.id is distinct from ${serviceId}`;
  const key = (port: number, protocol: string) => `${port}/${protocol}`;
  const taken = new Set<string>();
  for (const r of rows)
    for (const p of Array.isArray(r.ports) ? (r.ports as Array<{ published?: number; protocol?: string; publishMode?: string }>) : [])
      if (p.publishMode !== "host" && typeof p.published === "number") taken.add(key(p.published, p.protocol ?? "tcp"));
  for (const p of spec.endpoint.ports) if (p.published !== undefined) taken.add(key(p.published, p.protocol));
  const ports = spec.endpoint.ports.map((p) => {
    if (p.publishMode !== "ingress" || p.published !== undefined) return p;
    const kept = current?.endpoint.ports.find(
      (c) =>
        c.publishMode === "ingress" &&
        c.target === p.target &&
        c.protocol === p.protocol &&
        c.published !== undefined &&
        !taken.has(key(c.published, c.protocol)),
    )?.published;
    let published = kept;
    for (let n = INGRESS_PORT_RANGE.first; published === undefined && n <= INGRESS_PORT_RANGE.last; n++)
      if (!taken.has(key(n, p.protocol))) published = n;
    if (published === undefined)
      throw conflict(
        `no free port left in ${INGRESS_PORT_RANGE.first}-${INGRESS_PORT_RANGE.last} for the routing mesh: publish port ${p.target} on a number`,
      );
    taken.add(key(published, p.protocol));
    return { ...p, published };
  });
  return { ...spec, endpoint: { ...spec.endpoint, ports } };
}
