// Network endpoints: list, inspect, create, remove, connect, disconnect, prune.
import { z } from "zod";
import type { CreateNetworkRequest, NetworkService } from "../network/index.ts";
import { badRequest } from "./errors.ts";
import { ENDPOINT_SUPPORTED, ENDPOINT_UNSUPPORTED, vet } from "./container-config.ts";
import { filtersParam, labelsMatch } from "./query.ts";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";

const LIST_FILTERS = ["driver", "id", "label", "name", "scope", "type", "dangling"] as const;
const CREATE_SUPPORTED = ["Name", "Driver", "Internal", "Attachable", "Labels", "Options", "IPAM"];
const CREATE_UNSUPPORTED = ["Scope", "Ingress", "ConfigOnly", "ConfigFrom", "EnableIPv6"];
/**
 * EnableIPv4 defaults to true; only switching it off is unsupported. CheckDuplicate (sent by
 * clients before API 1.44, true from the CLI) is what Berth always does: a second network with a
 * name in use is refused, as dockerd does for every API version since it deprecated the field.
 */
const CREATE_IGNORED = ["EnableIPv4", "CheckDuplicate"];

const ConnectSchema = z.object({
  Container: z.string().min(1).max(256),
  EndpointConfig: z.record(z.string(), z.unknown()).nullable().optional(),
});
const DisconnectSchema = z.object({ Container: z.string().min(1).max(256), Force: z.boolean().optional() });

export function networkRoutes(r: Router, o: DockerApiOptions): void {
  const rt = o.runtime;
  const nets = (): NetworkService => {
    if (!rt.networks) throw badRequest("bridge networking is not enabled on this agent (BERTH_NETWORKING=0)");
    return rt.networks;
  };

  r.get("/networks", (ctx) => {
    const f = filtersParam(ctx.query, LIST_FILTERS);
    const any = (key: string, test: (v: string) => boolean) => !f.get(key)?.length || f.get(key)!.some(test);
    const rows = (rt.networks?.list() ?? []) as Array<{
      Id: string;
      Name: string;
      Driver: string;
      Labels?: Record<string, string>;
      Containers?: Record<string, unknown>;
    }>;
    ctx.json(
      200,
      rows.filter(
        (n) =>
          any("id", (v) => n.Id.startsWith(v)) &&
          any("name", (v) => n.Name.includes(v)) &&
          any("driver", (v) => n.Driver === v) &&
          any("scope", (v) => v === "local") &&
          any("type", (v) => (v === "builtin") === ["bridge", "host", "none"].includes(n.Name)) &&
          any(
            "dangling",
            (v) =>
              (v === "true" || v === "1") ===
              (Object.keys(n.Containers ?? {}).length === 0 && !["bridge", "host", "none"].includes(n.Name)),
          ) &&
          labelsMatch(n.Labels, f.get("label")),
      ),
    );
  });

  r.get("/networks/{id}", (ctx) => ctx.json(200, nets().inspect(ctx.params.id!)));

  r.post("/networks/create", async (ctx) => {
    const body = await ctx.body(z.record(z.string(), z.unknown()));
    if (body.EnableIPv4 === false) throw badRequest("EnableIPv4=false is not supported by Berth");
    const req = vet(body, "", CREATE_SUPPORTED, CREATE_UNSUPPORTED, CREATE_IGNORED) as unknown as CreateNetworkRequest;
    if (typeof req.Name !== "string" || !req.Name) throw badRequest("network name is required");
    if (req.IPAM && typeof req.IPAM === "object") {
      const { Options, ...ipam } = req.IPAM as Record<string, unknown>;
      if (Options && Object.keys(Options as object).length) throw badRequest("IPAM options are not supported by Berth");
      req.IPAM = ipam as CreateNetworkRequest["IPAM"];
    }
    ctx.json(201, await nets().create(req));
  });

  r.delete("/networks/{id}", async (ctx) => {
    await nets().remove(ctx.params.id!);
    ctx.empty(204);
  });

  r.post("/networks/{id}/connect", async (ctx) => {
    const body = await ctx.body(ConnectSchema);
    // The same endpoint settings as a create body's NetworkingConfig.
    const ep = vet(body.EndpointConfig ?? {}, "EndpointConfig.", ENDPOINT_SUPPORTED, ENDPOINT_UNSUPPORTED);
    nets();
    await rt.containers.connect(ctx.params.id!, body.Container, ep as Parameters<typeof rt.containers.connect>[2]);
    ctx.empty(200);
  });

  r.post("/networks/{id}/disconnect", async (ctx) => {
    const body = await ctx.body(DisconnectSchema);
    nets();
    await rt.containers.disconnect(ctx.params.id!, body.Container);
    ctx.empty(200);
  });

  r.post("/networks/prune", async (ctx) => {
    const f = filtersParam(ctx.query, ["until", "label", "label!"]);
    if (f.size) throw badRequest("network prune filters are not supported by Berth");
    ctx.json(200, await nets().prune());
  });
}
