import { z } from "zod";
import { anyFilter, badRequest, boolParam, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { type FleetRequest, type InventoryRow, inventoryOf, splitHost } from "./context.ts";

/*
 * The fleet's volumes: every host's, named `host/name` as containers are. A volume lives on one
 * host, so creating one names it (`docker volume create lab-h2/data`); inspect and rm take the same.
 */

function listed(row: InventoryRow) {
  return {
    Name: `${row.hostName}/${row.name}`,
    Driver: row.image || "local",
    Mountpoint: "",
    CreatedAt: row.created.toISOString(),
    Labels: { "com.berth.host": row.hostName, "com.berth.host.id": row.hostId },
    Scope: "local",
    Options: null,
  };
}

/** `host/name` of one of the caller's hosts; a bare name is refused, since a volume lives on one host. */
async function onHost(r: FleetRequest, ref: string): Promise<{ hostId: string; hostName: string; name: string }> {
  const { host, rest } = await splitHost(r, ref);
  if (!host) throw new DockerApiError(404, `get ${ref}: no such volume (name a fleet volume as host/name)`);
  return { hostId: host.id, hostName: host.name, name: rest };
}

const CreateBody = z.object({
  Name: z.string().max(512).optional(),
  Driver: z.string().max(64).optional(),
  DriverOpts: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
});

export function volumeRoutes(router: Router<FleetRequest>): void {
  router.get("/volumes", async (r) => {
    const f = filtersParam(r.query, ["name", "driver", "label", "dangling", "node"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    if (f.get("dangling")?.length) throw badRequest("the fleet endpoint does not know which volumes are in use: ask the host's agent");
    const rows = (await inventoryOf(r, "volume")).filter(
      (row) =>
        any("name", (v) => `${row.hostName}/${row.name}`.includes(v)) &&
        any("driver", (v) => (row.image || "local") === v) &&
        any("node", (v) => row.hostName === v || row.hostId === v) &&
        labelsMatch({ "com.berth.host": row.hostName, "com.berth.host.id": row.hostId }, f.get("label")),
    );
    r.json(200, { Volumes: rows.map(listed), Warnings: [] });
  });

  router.get("/volumes/{name*}", async (r) => {
    const v = await onHost(r, r.params.name!);
    const info = (await r.api.volumes.inspect({ hostId: v.hostId, name: v.name })) as Record<string, unknown>;
    r.json(200, { ...info, Name: `${v.hostName}/${String(info.Name ?? v.name)}` });
  });

  router.post("/volumes/create", async (r) => {
    const body = await r.body(CreateBody);
    if (body.Driver && body.Driver !== "local")
      throw badRequest(`volume driver ${body.Driver} is not supported: Berth's volumes are local`);
    if (body.DriverOpts && Object.keys(body.DriverOpts).length)
      throw badRequest("volume driver options are not supported through the fleet endpoint");
    const { host, rest } = await splitHost(r, body.Name ?? "");
    if (!host) throw badRequest("name the host the volume lives on: docker volume create HOST/NAME");
    const info = (await r.api.volumes.create({
      hostId: host.id,
      name: rest,
      ...(body.Labels ? { labels: body.Labels } : {}),
    })) as Record<string, unknown>;
    r.json(201, { ...info, Name: `${host.name}/${String(info.Name ?? rest)}` });
  });

  router.delete("/volumes/{name*}", async (r) => {
    const v = await onHost(r, r.params.name!);
    await r.api.volumes.remove({ hostId: v.hostId, name: v.name, force: boolParam(r.query, "force") });
    r.res.writeHead(204).end();
  });
}
