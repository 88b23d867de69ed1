import { z } from "zod";
import { anyFilter, badRequest, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { creatingTeam, type FleetRequest, resolveRef } from "./context.ts";

/*
 * The fleet's networks are its overlay networks (swarm scope): created, listed, inspected and
 * removed through the same procedures as the dashboard's Overlay networks page. A host's own
 * bridge networks stay on that host's agent.
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

export function networkRoutes(router: Router<FleetRequest>): void {
  router.get("/networks", async (r) => {
    const f = filtersParam(r.query, ["id", "name", "label", "driver", "scope", "type"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const nets = (await r.api.overlays.list()).filter(
      (n) =>
        any("id", (v) => n.id.startsWith(v)) &&
        any("name", (v) => n.name.includes(v)) &&
        any("driver", (v) => v === "overlay") &&
        any("scope", (v) => v === "swarm") &&
        any("type", (v) => v === "custom") &&
        labelsMatch(n.labels, f.get("label")),
    );
    r.json(200, nets.map(networkObject));
  });

  router.get("/networks/{id}", async (r) => r.json(200, networkObject(await findNetwork(r, r.params.id!))));

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

  router.delete("/networks/{id}", async (r) => {
    const n = await findNetwork(r, r.params.id!);
    // As Swarm: a network whose removed services' tasks are still stopping goes once they have.
    await r.api.overlays.remove({ id: n.id, waitForLeavingTasks: true });
    r.res.writeHead(204).end();
  });
}
