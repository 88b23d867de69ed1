import { createHash } from "node:crypto";
import { arch, cpus, hostname, totalmem } from "node:os";
import { z } from "zod";
import { anyFilter, badRequest, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { type FleetRequest, resolveRef } from "./context.ts";

/*
 * Nodes are the caller's hosts (workers), and the control plane itself (the manager and leader,
 * which runs no tasks: availability drain). Updates change a host's labels and availability
 * through the same procedures as the dashboard.
 */

/** Docker's names for Node's architectures (Swarm nodes and `docker info` show these). */
export const DOCKER_ARCH: Record<string, string> = { x64: "x86_64", arm64: "aarch64", arm: "armv7l", ia32: "i386" };

type HostRow = Awaited<ReturnType<FleetRequest["api"]["hosts"]["list"]>>[number];

/**
 * A node's Version.Index: Docker's update check (`?version=`) must see a change of the spec. Hosts
 * have no counter, so the index is a digest of what an update can change: a write between a
 * client's read and its update makes them differ.
 */
function versionIndex(h: Pick<HostRow, "labels" | "availability">): number {
  const spec = JSON.stringify([Object.entries(h.labels).sort(), h.availability]);
  return Number.parseInt(createHash("sha256").update(spec).digest("hex").slice(0, 12), 16);
}

const STATE: Record<HostRow["status"], string> = { online: "ready", offline: "down", pending: "unknown" };

export function hostNode(h: HostRow) {
  return {
    ID: h.id,
    Version: { Index: versionIndex(h) },
    CreatedAt: h.createdAt.toISOString(),
    UpdatedAt: (h.lastSeenAt ?? h.createdAt).toISOString(),
    Spec: { Labels: h.labels, Role: "worker" as const, Availability: h.availability },
    Description: {
      Hostname: h.name,
      Platform: { Architecture: DOCKER_ARCH[h.arch ?? ""] ?? h.arch ?? "", OS: "linux" },
      Resources: { NanoCPUs: (h.cpus ?? 0) * 1e9, MemoryBytes: h.memoryBytes ?? 0 },
      Engine: { EngineVersion: h.agentVersion ? `berth-agent ${h.agentVersion}` : "", Labels: {}, Plugins: [] },
      TLSInfo: {},
    },
    Status: {
      State: h.connected ? "ready" : STATE[h.status],
      ...(h.connected || h.status !== "online" ? {} : { Message: "not linked to this control-plane process" }),
      Addr: h.address ?? h.remoteAddr ?? "",
    },
  };
}

export type NodeObject = ReturnType<typeof hostNode> | ReturnType<typeof managerNode>;

/** The control plane as Swarm's manager node: the one `docker info` names as this node. */
export function managerNode(r: FleetRequest) {
  const c = r.cluster;
  return {
    ID: c.managerId,
    Version: { Index: 1 },
    CreatedAt: c.createdAt.toISOString(),
    UpdatedAt: c.createdAt.toISOString(),
    Spec: { Labels: {}, Role: "manager" as const, Availability: "drain" as const },
    Description: {
      Hostname: hostname(),
      Platform: { Architecture: DOCKER_ARCH[arch()] ?? arch(), OS: "linux" },
      Resources: { NanoCPUs: cpus().length * 1e9, MemoryBytes: totalmem() },
      Engine: { EngineVersion: `berth ${c.version}`, Labels: {}, Plugins: [] },
      TLSInfo: {},
    },
    Status: { State: "ready", Addr: c.managerAddr.replace(/:\d+$/, "") },
    ManagerStatus: { Leader: true, Reachability: "reachable", Addr: c.managerAddr },
  };
}

/** Every node the caller may see: the manager, then their hosts by name. */
export async function nodesOf(r: FleetRequest): Promise<NodeObject[]> {
  const hosts = await r.api.hosts.list();
  return [managerNode(r), ...hosts.map(hostNode)];
}

/** A node by ID, hostname or unique ID prefix, as the Swarm API resolves them. */
export async function findNode(r: FleetRequest, ref: string): Promise<NodeObject> {
  return resolveRef(
    await nodesOf(r),
    ref,
    "node",
    (n) => n.ID,
    (n) => n.Description.Hostname,
  );
}

const NodeSpecBody = z.object({
  Name: z.string().max(256).optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Role: z.enum(["worker", "manager"]).optional(),
  Availability: z.enum(["active", "pause", "drain"]).optional(),
});

export function nodeRoutes(router: Router<FleetRequest>): void {
  router.get("/nodes", async (r) => {
    const f = filtersParam(r.query, ["id", "name", "role", "membership", "node.label", "label"]);
    // Each filter holds when one of its values matches (labels: all of them), as dockerd's.
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const nodes = (await nodesOf(r)).filter(
      (n) =>
        any("id", (v) => n.ID.startsWith(v)) &&
        any("name", (v) => n.Description.Hostname.includes(v)) &&
        any("role", (v) => n.Spec.Role === v) &&
        any("membership", (v) => v === "accepted") &&
        labelsMatch(n.Spec.Labels, f.get("node.label")) &&
        labelsMatch(n.Description.Engine.Labels, f.get("label")),
    );
    r.json(200, nodes);
  });

  router.get("/nodes/{id}", async (r) => r.json(200, await findNode(r, r.params.id!)));

  router.post("/nodes/{id}/update", async (r) => {
    const node = await findNode(r, r.params.id!);
    const version = Number(r.query.get("version"));
    if (!Number.isSafeInteger(version)) throw badRequest("invalid node version: pass the node's Version.Index as ?version=");
    const spec = await r.body(NodeSpecBody);
    if (node.Spec.Role === "manager") throw badRequest("the manager node is the control plane itself: it is not changed through the API");
    if (version !== node.Version.Index) throw new DockerApiError(409, "update out of sequence: the node changed since it was read");
    if (spec.Role === "manager")
      throw badRequest("Berth hosts are workers: the control plane is the fleet's manager (run more control-plane processes instead)");
    if (spec.Name) throw badRequest("node names are not supported: rename the host on the control plane");
    const labels = spec.Labels ?? {};
    if (JSON.stringify(Object.entries(labels).sort()) !== JSON.stringify(Object.entries(node.Spec.Labels).sort()))
      await r.api.hosts.setLabels({ id: node.ID, labels });
    if (spec.Availability && spec.Availability !== node.Spec.Availability)
      await r.api.services.setAvailability({ hostId: node.ID, availability: spec.Availability });
    r.res.writeHead(200).end();
  });

  router.delete("/nodes/{id}", async (r) => {
    const node = await findNode(r, r.params.id!);
    if (node.Spec.Role === "manager") throw badRequest("the manager node is the control plane itself: it cannot be removed");
    if (node.Status.State === "ready" && r.query.get("force") !== "1" && r.query.get("force") !== "true")
      throw badRequest(`node ${node.Description.Hostname} is not down and can't be removed: stop its agent first, or use --force`);
    await r.api.hosts.remove({ id: node.ID });
    r.res.writeHead(200).end();
  });
}
