import {
  COMPOSE_ONEOFF,
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  composeFromContainers,
  composeFromServices,
  DomainError,
  type ImageDefaults,
  ImageDefaultsSchema,
  InspectedContainerSchema,
  STACK_LABEL,
} from "@berth/core";
import type { Context } from "../context.ts";
import { projectContainers } from "./host-ops.ts";

/*
 * Stacks deployed elsewhere: compose projects that docker-compose (or `docker compose`) started on
 * a team's hosts, found by compose's project label on their containers, and stack namespaces of
 * fleet services that `docker stack deploy` made through the fleet Docker endpoint. Those Berth
 * already keeps as stacks are left out. A host project can be adopted: a compose file is written
 * back from its containers and kept as a single-host stack, editable as any other. A fleet
 * namespace can be adopted too: its compose file is written back from its services' specs, which
 * plan to the same specs again, so the first deploy of the adopted stack restarts nothing.
 */

export interface FoundStack {
  kind: "host" | "fleet";
  teamId: string;
  name: string;
  /** The host a compose project runs on. */
  hostId: string | null;
  hostName: string | null;
  services: string[];
  containers: number;
}

/** Longest a host may take to list its containers here: one slow host must not hold the page. */
const LIST_TIMEOUT_MS = 5_000;

export async function foundStacks(ctx: Context, teamIds: string[]): Promise<FoundStack[]> {
  const known = await ctx.stacks.known(teamIds);
  const isKnown = (teamId: string, name: string, hostId: string | null) =>
    known.some(
      (k) =>
        k.teamId === teamId && k.name === name && (hostId === null ? k.target === "fleet" : k.target === "host" && k.hostId === hostId),
    );
  const hosts = await ctx.db.host.findMany({ where: { teamId: { in: teamIds } }, select: { id: true, name: true, teamId: true } });
  const perHost = await Promise.all(
    hosts
      .filter((h) => ctx.gateway.isConnected(h.id))
      .map(async (h) => {
        const containers = await ctx.gateway
          .command(h.id, "containers.list", { all: true }, { timeoutMs: LIST_TIMEOUT_MS })
          .catch(() => []);
        const projects = new Map<string, Set<string>>();
        const counts = new Map<string, number>();
        for (const c of containers) {
          const project = c.Labels?.[COMPOSE_PROJECT];
          if (!project || c.Labels?.[COMPOSE_ONEOFF] === "True") continue;
          projects.set(project, (projects.get(project) ?? new Set()).add(c.Labels?.[COMPOSE_SERVICE] ?? ""));
          counts.set(project, (counts.get(project) ?? 0) + 1);
        }
        return [...projects]
          .filter(([name]) => !isKnown(h.teamId, name, h.id))
          .map(
            ([name, services]): FoundStack => ({
              kind: "host",
              teamId: h.teamId,
              name,
              hostId: h.id,
              hostName: h.name,
              services: [...services].sort(),
              containers: counts.get(name) ?? 0,
            }),
          );
      }),
  );
  const fleet = (await ctx.stacks.fleetNamespaces(teamIds))
    .filter((n) => !isKnown(n.teamId, n.name, null))
    .map(
      (n): FoundStack => ({
        kind: "fleet",
        teamId: n.teamId,
        name: n.name,
        hostId: null,
        hostName: null,
        services: n.services,
        containers: 0,
      }),
    );
  return [...perHost.flat(), ...fleet].sort((a, b) => a.name.localeCompare(b.name));
}

/** A compose project's file, written back from its containers on the host. */
export async function composeOfProject(ctx: Context, hostId: string, project: string): Promise<string> {
  const list = await projectContainers(ctx.gateway, hostId, project);
  if (list.length === 0) throw new DomainError("NOT_FOUND", `no containers of compose project ${project} on this host`);
  const inspected = await Promise.all(
    list.map(async (c) => {
      const read = InspectedContainerSchema.safeParse(await ctx.gateway.command(hostId, "containers.inspect", { id: c.id }));
      if (!read.success)
        throw new DomainError("UPSTREAM", `the host described container ${c.name} in a form Berth cannot read: ${read.error.message}`);
      return read.data;
    }),
  );
  const images = new Map<string, ImageDefaults>();
  for (const image of new Set(inspected.map((c) => c.Config.Image))) {
    const info = await ctx.gateway.command(hostId, "images.inspect", { name: image }).catch(() => null);
    // Without the image's own values nothing is left out as the image's: the file says more, never less.
    const defaults = ImageDefaultsSchema.safeParse(info?.Config ?? {});
    images.set(image, defaults.success ? defaults.data : {});
  }
  return composeFromContainers(project, inspected, images);
}

/** A `docker stack deploy` namespace's file, written back from its services' specs and networks. */
export async function composeOfFleetStack(ctx: Context, teamId: string, stack: string): Promise<string> {
  const services = (await ctx.services.list([teamId])).filter((s) => s.spec.labels[STACK_LABEL] === stack);
  if (services.length === 0) throw new DomainError("NOT_FOUND", `no services of stack ${stack} in this team`);
  const overlays = await ctx.overlays.list([teamId]);
  return composeFromServices(
    stack,
    services.map((s) => s.spec),
    overlays.map((o) => ({ name: o.name, internal: o.internal, attachable: o.attachable, encrypted: o.encrypted })),
  );
}
