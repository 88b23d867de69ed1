// The build paths of the Engine API: build, build cache, build cancel, and the BuildKit session and
// gRPC upgrades. Berth has no image builder yet, so nothing is ever built or running: these answer
// as dockerd's would with an empty builder, and a build request is a 501 that says so.
import { DockerApiError, badRequest } from "./errors.ts";
import { filtersParam } from "@berth/docker-api";
import type { Router } from "./router.ts";

const NO_BUILDER =
  "Berth cannot build images yet: it has no image builder. Build with another builder and push or load the image (docker load)";
/** dockerd's builder versions (`version` on /build): 1 is the classic builder, 2 BuildKit. */
const BUILDER_VERSIONS = new Set(["1", "2"]);
const PRUNE_FILTERS = ["until", "id", "parent", "type", "description", "inuse", "shared", "private"] as const;

/**
 * The check dockerd makes on a session or gRPC upgrade before serving it: only HTTP/2 over
 * cleartext (`Upgrade: h2c`), with its wording. `status` is dockerd's: 400 for /session, 500 for /grpc.
 */
function checkH2cUpgrade(upgrade: string | undefined, status: number): void {
  if (!upgrade) throw new DockerApiError(status, "no upgrade proto in request");
  if (upgrade !== "h2c") throw new DockerApiError(status, `protocol ${upgrade} not supported`);
}

export function builderRoutes(r: Router): void {
  r.post("/build", (ctx) => {
    const version = ctx.query.get("version");
    if (version !== null && version !== "" && !BUILDER_VERSIONS.has(version)) throw badRequest(`invalid version "${version}"`);
    throw new DockerApiError(501, NO_BUILDER);
  });

  // `docker system prune` prunes the build cache too; Berth has none, so there is nothing to remove.
  r.post("/build/prune", (ctx) => {
    filtersParam(ctx.query, PRUNE_FILTERS);
    ctx.json(200, { CachesDeleted: [], SpaceReclaimed: 0 });
  });

  // As dockerd: cancelling a build that is not running is not an error, and none ever runs here.
  r.post("/build/cancel", (ctx) => {
    if (!ctx.query.get("id")) throw badRequest("build ID not provided");
    ctx.empty(200);
  });

  // The CLI opens a session (file sync, secrets, SSH agent) for a build, and BuildKit clients speak
  // gRPC over /grpc; both only make sense with a builder behind them.
  r.post("/session", (ctx) => {
    checkH2cUpgrade(headerValue(ctx.headers.upgrade), 400);
    throw new DockerApiError(501, "Berth has no image builder, so it serves no build sessions");
  });
  r.post("/grpc", (ctx) => {
    checkH2cUpgrade(headerValue(ctx.headers.upgrade), 500);
    throw new DockerApiError(501, "Berth has no image builder, so it does not serve BuildKit's gRPC API");
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
