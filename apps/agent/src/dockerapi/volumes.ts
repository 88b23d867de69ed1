// Volume endpoints: list, create, inspect, remove, prune.
import { z } from "zod";
import { badRequest } from "./errors.ts";
import { boolParam, filtersParam } from "./query.ts";
import { pruneAllVolumesByDefault } from "./compat.ts";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";

const CreateSchema = z
  .object({
    Name: z.string().max(255).optional(),
    Driver: z.string().max(64).optional(),
    DriverOpts: z.record(z.string().max(256), z.string().max(4096)).nullable().optional(),
    Labels: z.record(z.string().max(1024), z.string().max(65_536)).nullable().optional(),
    ClusterVolumeSpec: z.null().optional(),
  })
  .strict();

export function volumeRoutes(r: Router, o: DockerApiOptions): void {
  const v = o.runtime.volumes;

  r.get("/volumes", (ctx) => {
    const f = filtersParam(ctx.query, ["name", "label", "dangling", "driver"]);
    const dangling = f.get("dangling")?.[0];
    if (dangling !== undefined && !["true", "false", "1", "0"].includes(dangling))
      throw badRequest(`invalid filter 'dangling=${dangling}'`);
    const rows = v
      .list({
        ...(f.get("name") ? { name: f.get("name")! } : {}),
        ...(f.get("label") ? { label: f.get("label")! } : {}),
        ...(dangling !== undefined ? { dangling: dangling === "true" || dangling === "1" } : {}),
      })
      .filter((vol) => !f.get("driver")?.length || f.get("driver")!.includes(vol.Driver));
    ctx.json(200, { Volumes: rows, Warnings: [] });
  });

  r.post("/volumes/create", async (ctx) => {
    const body = await ctx.body(CreateSchema);
    ctx.json(
      201,
      v.create({
        ...(body.Name ? { Name: body.Name } : {}),
        ...(body.Driver ? { Driver: body.Driver } : {}),
        Labels: body.Labels ?? null,
        DriverOpts: body.DriverOpts ?? null,
      }),
    );
  });

  r.get("/volumes/{name}", (ctx) => ctx.json(200, v.inspect(ctx.params.name!)));

  r.delete("/volumes/{name}", (ctx) => {
    v.remove(ctx.params.name!, { force: boolParam(ctx.query, "force") });
    ctx.empty(204);
  });

  r.post("/volumes/prune", (ctx) => {
    const f = filtersParam(ctx.query, ["label", "label!", "all"]);
    if (f.has("label!")) throw badRequest("the label! filter is not supported by Berth's volume prune");
    const all = f.get("all")?.[0];
    const allVolumes = all === undefined ? pruneAllVolumesByDefault(ctx.version) : all === "true" || all === "1";
    ctx.json(200, v.prune({ all: allVolumes, ...(f.get("label") ? { label: f.get("label")! } : {}) }));
  });
}
