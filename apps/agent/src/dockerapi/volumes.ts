// Volume endpoints: list, create, inspect, remove, prune.
import { z } from "zod";
import { badRequest } from "./errors.ts";
import { boolParam, filtersParam } from "@berth/docker-api";
import { pruneAllVolumesByDefault } from "@berth/docker-api";
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
    const all = f.get("all") ?? [];
    if (all.length > 1) throw badRequest(`invalid filter 'all=[${all.join(" ")}]': only one value is expected`);
    const wanted = all.length ? goBool(all[0]!) : false;
    if (wanted === undefined)
      throw badRequest(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(all[0])}: invalid syntax`);
    // Before 1.42 dockerd adds all=true itself: every unused volume goes, named ones too.
    const allVolumes = pruneAllVolumesByDefault(ctx.version) || wanted;
    ctx.json(
      200,
      v.prune({
        all: allVolumes,
        ...(f.get("label") ? { label: f.get("label")! } : {}),
        ...(f.get("label!") ? { notLabel: f.get("label!")! } : {}),
      }),
    );
  });
}

/** Go's strconv.ParseBool, which dockerd reads the `all` filter with. */
function goBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}
