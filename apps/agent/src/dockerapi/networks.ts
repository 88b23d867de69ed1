// Network endpoints: list, inspect, create, remove, connect, disconnect, prune.
import { EndpointConfigSchema } from "@berth/protocol";
import { z } from "zod";
import type { CreateNetworkRequest, NetworkService } from "../network/index.ts";
import { badRequest } from "./errors.ts";
import { anyFilter, dockerJsonKeys, endpointFromDocker, vet } from "@berth/docker-api";
import { filtersParam, labelsMatch } from "@berth/docker-api";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";

const LIST_FILTERS = ["driver", "id", "label", "name", "scope", "type", "dangling"] as const;
const CREATE_SUPPORTED = ["Name", "Driver", "Internal", "Attachable", "Labels", "Options", "IPAM", "EnableIPv6"];
const CREATE_UNSUPPORTED = ["Scope", "Ingress", "ConfigOnly", "ConfigFrom"];
const IPAM_KEYS = ["Driver", "Options", "Config"];
const IPAM_CONFIG_KEYS = ["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"];

const Strings = z.record(z.string().max(1024), z.string().max(65_536)).nullable().optional();
const Address = z.string().max(64);
/** A create body after Docker's decoding rules (see vet): the shape only; the network layer judges the values. */
const CreateSchema = z.object({
  Name: z.string().max(65_536).optional(),
  Driver: z.string().max(256).optional(),
  Internal: z.boolean().optional(),
  Attachable: z.boolean().optional(),
  EnableIPv6: z.boolean().nullable().optional(),
  Labels: Strings,
  Options: Strings,
  IPAM: z
    .object({
      Driver: z.string().max(256).optional(),
      Config: z
        .array(
          z.object({
            Subnet: Address.optional(),
            IPRange: Address.optional(),
            Gateway: Address.optional(),
            AuxiliaryAddresses: z.record(z.string().max(256), Address).nullable().optional(),
          }),
        )
        .max(16)
        .nullable()
        .optional(),
    })
    .nullable()
    .optional(),
});
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
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
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
    const vetted = vet(body, "", CREATE_SUPPORTED, CREATE_UNSUPPORTED, CREATE_IGNORED);
    // Nested keys too match in any case, and null is unset (Go's decoding).
    const ipam = dockerJsonKeys(vetted.IPAM, IPAM_KEYS) as Record<string, unknown> | undefined;
    if (ipam) {
      const { Options, ...rest } = ipam;
      if (Options && Object.keys(Options as object).length) throw badRequest("IPAM options are not supported by Berth");
      if (Array.isArray(rest.Config)) rest.Config = rest.Config.map((c) => dockerJsonKeys(c, IPAM_CONFIG_KEYS));
      vetted.IPAM = rest;
    }
    const req = CreateSchema.parse(vetted);
    ctx.json(201, await nets().create({ ...req, Name: req.Name ?? "", EnableIPv6: Boolean(req.EnableIPv6) } as CreateNetworkRequest));
  });

  r.delete("/networks/{id}", async (ctx) => {
    await nets().remove(ctx.params.id!);
    ctx.empty(204);
  });

  r.post("/networks/{id}/connect", async (ctx) => {
    const body = await ctx.body(ConnectSchema);
    // The same endpoint settings as a create body's NetworkingConfig.
    const ep = EndpointConfigSchema.parse(endpointFromDocker(body.EndpointConfig ?? {}, "EndpointConfig."));
    nets();
    await rt.containers.connect(ctx.params.id!, body.Container, ep);
    ctx.empty(200);
  });

  r.post("/networks/{id}/disconnect", async (ctx) => {
    const body = await ctx.body(DisconnectSchema);
    nets();
    await rt.containers.disconnect(ctx.params.id!, body.Container, Boolean(body.Force));
    ctx.empty(200);
  });

  r.post("/networks/prune", async (ctx) => {
    const f = filtersParam(ctx.query, ["until", "label", "label!"]);
    if (f.size) throw badRequest("network prune filters are not supported by Berth");
    ctx.json(200, await nets().prune());
  });
}
