import { z } from "zod";
import { anyFilter, badRequest, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { creatingTeam, type FleetRequest, resolveRef } from "./context.ts";

/*
 * Swarm's secrets and configs over Berth's (core's service-files): create, ls, inspect, rm and
 * update (labels only), through the same procedures as the dashboard. A secret's data is never
 * shown; a config's is, as in Swarm.
 */

type FileRow = Awaited<ReturnType<FleetRequest["api"]["secrets"]["list"]>>[number];

const SpecBody = z.object({
  Name: z.string().min(1).max(64),
  Labels: z.record(z.string(), z.string()).nullish(),
  Data: z
    .string()
    .max(700 * 1024)
    .base64()
    .nullish(),
  Driver: z.object({ Name: z.string() }).passthrough().nullish(),
  Templating: z.object({ Name: z.string() }).passthrough().nullish(),
});

function objectOf(f: FileRow) {
  return {
    ID: f.id,
    Version: { Index: f.version },
    CreatedAt: f.createdAt.toISOString(),
    UpdatedAt: f.updatedAt.toISOString(),
    Spec: { Name: f.name, Labels: f.labels, ...(f.data !== null ? { Data: f.data } : {}) },
  };
}

export function serviceFileRoutes(router: Router<FleetRequest>): void {
  for (const [path, kind] of [
    ["secrets", "secret"],
    ["configs", "config"],
  ] as const) {
    const procedures = (r: FleetRequest) => (kind === "secret" ? r.api.secrets : r.api.configs);
    const find = async (r: FleetRequest, ref: string) =>
      resolveRef(
        await procedures(r).list(),
        ref,
        kind,
        (f) => f.id,
        (f) => f.name,
      );

    router.get(`/${path}`, async (r) => {
      const f = filtersParam(r.query, ["id", "name", "names", "label"]);
      const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
      const rows = (await procedures(r).list()).filter(
        (x) =>
          any("id", (v) => x.id.startsWith(v)) &&
          any("name", (v) => x.name.startsWith(v)) &&
          any("names", (v) => x.name === v) &&
          labelsMatch(x.labels, f.get("label")),
      );
      r.json(200, rows.map(objectOf));
    });

    router.post(`/${path}/create`, async (r) => {
      const body = await r.body(SpecBody);
      if (body.Driver?.Name) throw badRequest(`Berth keeps ${path} itself: external ${kind} drivers are not supported (Driver)`);
      if (body.Templating?.Name) throw badRequest(`Berth does not template ${path} (Templating)`);
      const teamId = creatingTeam(r);
      if (!teamId) throw new DockerApiError(403, "this credential holds no role in any team");
      const created = await procedures(r).create({ teamId, name: body.Name, labels: body.Labels ?? {}, data: body.Data ?? "" });
      r.json(201, { ID: created.id });
    });

    router.get(`/${path}/{id}`, async (r) => r.json(200, objectOf(await find(r, r.params.id!))));

    router.delete(`/${path}/{id}`, async (r) => {
      const f = await find(r, r.params.id!);
      await procedures(r).remove({ id: f.id });
      r.res.writeHead(204).end();
    });

    router.post(`/${path}/{id}/update`, async (r) => {
      const f = await find(r, r.params.id!);
      const version = Number(r.query.get("version"));
      if (!Number.isInteger(version) || version < 1) throw badRequest("invalid version: give the object's Version.Index (?version=)");
      const body = await r.body(SpecBody);
      // Swarm's rule: only labels change; the data, if sent again (as `docker stack deploy` does), must be the same.
      if (body.Name !== f.name) throw badRequest("only updates to Labels are allowed");
      await procedures(r).update({ id: f.id, version, labels: body.Labels ?? {}, ...(body.Data ? { data: body.Data } : {}) });
      r.res.writeHead(200).end();
    });
  }
}
