import { z } from "zod";
import { generateOpenApiDocument, type OpenApiRouter } from "trpc-to-openapi";
import { appRouter } from "./root.ts";

/*
 * The REST API is the tRPC router itself: procedures with rest(...) meta answer under /api/v1,
 * and the OpenAPI document is generated from their zod inputs (trpc-to-openapi). Procedures do
 * not declare output schemas (their types flow to the dashboard from the resolvers), so the
 * document describes every response as JSON of any shape; the generator insists on a schema,
 * which this view of the router supplies without changing the procedures.
 */
interface ProcedureDef {
  output?: unknown;
  [k: string]: unknown;
}
type Procedures = Record<string, { _def: ProcedureDef }>;

const ANY_JSON = z.unknown().describe("JSON, as the tRPC procedure of the same name returns it");

function documentedRouter(): OpenApiRouter {
  const procedures = (appRouter as unknown as { _def: { procedures: Procedures } })._def.procedures;
  const shadow = Object.fromEntries(
    Object.entries(procedures).map(([k, p]) => [k, { ...p, _def: { ...p._def, output: p._def.output ?? ANY_JSON } }]),
  );
  return { ...appRouter, _def: { ...appRouter._def, procedures: shadow } } as unknown as OpenApiRouter;
}

/** The router the REST handler and the document generator read. Calls still go through appRouter's own caller. */
export const restRouter = documentedRouter();

export function openApiDocument(baseUrl: string) {
  return generateOpenApiDocument(restRouter, {
    title: "Berth API",
    description:
      "REST view of Berth's tRPC API. " +
      "Authenticate with an API token (`Authorization: Bearer berth_…`, created under Settings → API tokens) or a session cookie. " +
      "Every route is authorized by the same role checks as the dashboard.",
    version: "1",
    baseUrl: `${baseUrl.replace(/\/+$/, "")}/api/v1`,
  });
}
