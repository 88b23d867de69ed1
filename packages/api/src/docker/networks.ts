import { z } from "zod";
import { anyFilter, badRequest, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { creatingTeam, type FleetRequest, type InventoryRow, inventoryOf, resolveRef, splitHost } from "./context.ts";

/*
 * The fleet's networks are its overlay networks (swarm scope): created, listed, inspected and
 * removed through the same procedures as the dashboard's Overlay networks page. Each host's own
 * networks (bridge, host, none) are listed beside them as `host/name` (local scope), and are
 * inspected and removed by that name; they are made on the host's agent.
 */

type OverlayRow = Awaited<ReturnType<FleetRequest["api"]["overlays"]["list"]>>[number];
const VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list";

function networkObject(n: OverlayRow) {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt.toISOString(),
    Scope: "swarm",
    Driver: "overlay",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: {},
    Options: { [VNI_OPTION]: String(n.vni), ...(n.encrypted ? { encrypted: "" } : {}) },
    Labels: n.labels,
  };
}

async function findNetwork(r: FleetRequest, ref: string): Promise<OverlayRow> {
  return resolveRef(
    await r.api.overlays.list(),
    ref,
    "network",
    (n) => n.id,
    (n) => n.name,
  );
}

const CreateBody = z.object({
  Name: z.string().min(1).max(256),
  Driver: z.string().max(64).optional(),
  Scope: z.string().max(16).optional(),
  Internal: z.boolean().optional(),
  Attachable: z.boolean().optional(),
  Ingress: z.boolean().optional(),
  EnableIPv6: z.boolean().nullish(),
  IPAM: z
    .object({ Config: z.array(z.object({ Subnet: z.string().max(64).optional(), Gateway: z.string().max(64).optional() })).nullish() })
    .nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
});

/** A host's own network as the fleet lists it (the agents list their overlay networks too: those are above). */
function hostNetworkObject(row: InventoryRow) {
  return {
    Name: `${row.hostName}/${row.name}`,
    Id: row.id,
    Created: row.created.toISOString(),
    Scope: "local",
    Driver: row.image,
    Labels: { "com.berth.host": row.hostName, "com.berth.host.id": row.hostId },
  };
}

const BUILTIN = new Set(["bridge", "host", "none"]);

export function networkRoutes(router: Router<FleetRequest>): void {
  router.get("/networks", async (r) => {
    const f = filtersParam(r.query, ["id", "name", "label", "driver", "scope", "type"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const overlays = (await r.api.overlays.list())
      .filter(
        (n) =>
          any("id", (v) => n.id.startsWith(v)) &&
          any("name", (v) => n.name.includes(v)) &&
          any("driver", (v) => v === "overlay") &&
          any("scope", (v) => v === "swarm") &&
          any("type", (v) => v === "custom") &&
          labelsMatch(n.labels, f.get("label")),
      )
      .map(networkObject);
    const local = (await inventoryOf(r, "network"))
      .filter(
        (row) =>
          row.image !== "overlay" &&
          any("id", (v) => row.id.startsWith(v)) &&
          any("name", (v) => `${row.hostName}/${row.name}`.includes(v)) &&
          any("driver", (v) => v === row.image) &&
          any("scope", (v) => v === "local") &&
          any("type", (v) => (v === "builtin") === BUILTIN.has(row.name)) &&
          labelsMatch({ "com.berth.host": row.hostName, "com.berth.host.id": row.hostId }, f.get("label")),
      )
      .map(hostNetworkObject);
    r.json(200, [...overlays, ...local]);
  });

  router.get("/networks/{id*}", async (r) => {
    const { host, rest } = await splitHost(r, r.params.id!);
    if (!host) return r.json(200, networkObject(await findNetwork(r, r.params.id!)));
    const info = (await r.api.networks.inspect({ hostId: host.id, id: rest })) as Record<string, unknown>;
    r.json(200, { ...info, Name: `${host.name}/${String(info.Name ?? rest)}` });
  });

  router.post("/networks/create", async (r) => {
    const body = await r.body(CreateBody);
    if (body.Driver && body.Driver !== "overlay")
      throw badRequest(
        `the fleet endpoint creates overlay networks only (got driver ${body.Driver}): a host's bridge networks are made on its agent`,
      );
    if (body.Ingress) throw badRequest("the routing mesh's network is made by Berth when a service first publishes a port");
    if (body.EnableIPv6) throw badRequest("overlay networks are IPv4 only for now");
    const configs = body.IPAM?.Config ?? [];
    if (configs.length > 1) throw badRequest("an overlay network takes one IPAM config (one IPv4 subnet)");
    const teamId = creatingTeam(r);
    if (!teamId) throw new DockerApiError(403, "this credential holds no role in any team");
    const { encrypted, ...options } = body.Options ?? {};
    const created = await r.api.overlays.create({
      teamId,
      name: body.Name,
      ...(configs[0]?.Subnet ? { subnet: configs[0].Subnet } : {}),
      ...(configs[0]?.Gateway ? { gateway: configs[0].Gateway } : {}),
      attachable: body.Attachable ?? false,
      internal: body.Internal ?? false,
      encrypted: encrypted !== undefined,
      labels: body.Labels ?? {},
      options,
    });
    r.json(201, { Id: created.id, Warning: "" });
  });

  router.delete("/networks/{id*}", async (r) => {
    const { host, rest } = await splitHost(r, r.params.id!);
    if (host) {
      await r.api.networks.remove({ hostId: host.id, id: rest });
      return void r.res.writeHead(204).end();
    }
    const n = await findNetwork(r, r.params.id!);
    // As Swarm: a network whose removed services' tasks are still stopping goes once they have.
    await r.api.overlays.remove({ id: n.id, waitForLeavingTasks: true });
    r.res.writeHead(204).end();
  });
}
