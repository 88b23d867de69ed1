// The build paths of the Engine API: the classic builder's POST /build (a tar context in the body,
// the classic JSON message stream out), build cache prune, build cancel, and BuildKit's session
// and gRPC upgrades, which answer as a dockerd without BuildKit would.
import { rm } from "node:fs/promises";
import { z } from "zod";
import { boolParam, filtersParam } from "@berth/docker-api";
import { receiveContext, type BuildOutput } from "../build/index.ts";
import type { ApiContext } from "./context.ts";
import { badRequest, DockerApiError, toDockerError } from "./errors.ts";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";

const PRUNE_FILTERS = ["until", "id", "parent", "type", "description", "inuse", "shared", "private"] as const;
/** Build output held for a client that does not read; past it, output is left out with a note. */
const MAX_HELD_OUTPUT = 8 << 20;

/** `buildargs` and `labels` are JSON objects in the query string. */
const BuildArgsSchema = z.record(
  z.string().max(1024),
  z
    .string()
    .max(1 << 20)
    .nullable(),
);
const LabelsSchema = z.record(z.string().max(1024), z.string().max(1 << 20));

function jsonParam<S extends z.ZodType>(q: URLSearchParams, key: string, schema: S): z.output<S> | undefined {
  const raw = q.get(key);
  if (raw === null || raw === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid JSON in ${key}`);
  }
  const r = schema.safeParse(parsed);
  if (!r.success) throw badRequest(`invalid ${key}: ${r.error.issues.map((i) => i.message).join("; ")}`);
  return r.data;
}

/**
 * The check dockerd makes on a session or gRPC upgrade before serving it: only HTTP/2 over
 * cleartext (`Upgrade: h2c`), with its wording. `status` is dockerd's: 400 for /session, 500 for /grpc.
 */
function checkH2cUpgrade(upgrade: string | undefined, status: number): void {
  if (!upgrade) throw new DockerApiError(status, "no upgrade proto in request");
  if (upgrade !== "h2c") throw new DockerApiError(status, `protocol ${upgrade} not supported`);
}

/**
 * The classic build stream: headers go out with the first message, so a build that fails before
 * any output (a bad Dockerfile) is an error status, as with dockerd; later failures are
 * errorDetail messages. With `quiet`, only the result's ID is written.
 */
function buildStream(ctx: ApiContext, quiet: boolean): BuildOutput & { fail(e: unknown): boolean; end(id?: string): void } {
  let out: ReturnType<ApiContext["stream"]> | null = null;
  let skipped = 0;
  const write = (msg: unknown) => {
    out ??= ctx.stream(200, "application/json");
    out.write(`${JSON.stringify(msg)}\n`);
  };
  return {
    stream: (text) => {
      if (quiet) return;
      // A client that stops reading does not make the agent hold the build's whole output.
      if (out && out.writableLength > MAX_HELD_OUTPUT) {
        skipped += text.length;
        return;
      }
      if (skipped) write({ stream: `[… ${skipped} characters of output left out: the client was not reading …]\n` });
      skipped = 0;
      write({ stream: text });
    },
    aux: (id) => write({ aux: { ID: id } }),
    fail: (e) => {
      if (!out) return false;
      const { message } = toDockerError(e);
      write({ errorDetail: { message }, error: message });
      return true;
    },
    end: (id) => {
      if (quiet && id) write({ stream: `${id}\n` });
      out ??= ctx.stream(200, "application/json");
      out.end();
    },
  };
}

export function builderRoutes(r: Router, o: DockerApiOptions): void {
  const rt = o.runtime;

  r.post("/build", async (ctx) => {
    const q = ctx.query;
    const version = q.get("version");
    if (version === "2") {
      throw new DockerApiError(
        501,
        "BuildKit (version=2) needs a build session, which Berth does not serve; the classic builder (version=1) builds with BuildKit's Dockerfile features",
      );
    }
    if (version !== null && version !== "" && version !== "1") throw badRequest(`invalid version "${version}"`);
    if (q.get("remote")) throw badRequest("remote build contexts are not fetched by the agent: send the context as the request body");
    if (boolParam(q, "squash")) throw badRequest("squash is only supported with experimental mode");
    const outputs = q.get("outputs");
    if (outputs && outputs !== "[]") throw badRequest("outputs are a BuildKit option; the classic builder stores the image");
    const quiet = boolParam(q, "q");
    const network = q.get("networkmode") || "default";
    if (!["default", "bridge", "none", "host"].includes(network))
      throw badRequest(`network mode ${JSON.stringify(network)} is not supported for builds`);
    const tags = q.getAll("t").filter(Boolean);
    const buildArgs = jsonParam(q, "buildargs", BuildArgsSchema) ?? {};
    const labels = jsonParam(q, "labels", LabelsSchema) ?? {};
    const dir = await rt.builder.contextDir();
    const out = buildStream(ctx, quiet);
    let id: string | undefined;
    try {
      const context = await receiveContext(ctx.req, dir, rt.buildContextLimit);
      id = await rt.builder.build(
        context,
        {
          dockerfile: q.get("dockerfile") || "Dockerfile",
          tags,
          buildArgs,
          labels,
          ...(q.get("target") ? { target: q.get("target")! } : {}),
          noCache: boolParam(q, "nocache"),
          pull: boolParam(q, "pull"),
          network: network === "bridge" ? "default" : network,
          ...(q.get("platform") ? { platform: q.get("platform")! } : {}),
          signal: ctx.signal,
        },
        out,
      );
    } catch (e) {
      if (!out.fail(e)) throw e;
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    out.end(id);
  });

  r.post("/build/prune", async (ctx) => {
    filtersParam(ctx.query, PRUNE_FILTERS);
    const { deleted, space } = await rt.builder.prune({ all: boolParam(ctx.query, "all") });
    ctx.json(200, { CachesDeleted: deleted, SpaceReclaimed: space });
  });

  // As dockerd: cancelling a build that is not running is not an error. A running classic build
  // ends when its client goes away.
  r.post("/build/cancel", (ctx) => {
    if (!ctx.query.get("id")) throw badRequest("build ID not provided");
    ctx.empty(200);
  });

  // The CLI opens a session (file sync, secrets, SSH agent) for a BuildKit build, and BuildKit
  // clients speak gRPC over /grpc; the classic builder needs neither.
  r.post("/session", (ctx) => {
    checkH2cUpgrade(headerValue(ctx.headers.upgrade), 400);
    throw new DockerApiError(501, "Berth serves the classic build API, not BuildKit's build sessions");
  });
  r.post("/grpc", (ctx) => {
    checkH2cUpgrade(headerValue(ctx.headers.upgrade), 500);
    throw new DockerApiError(501, "Berth serves the classic build API, not BuildKit's gRPC API");
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
