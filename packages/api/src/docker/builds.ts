import { z } from "zod";
import { badRequest, boolParam, DockerApiError, type Router } from "@berth/docker-api";
import { DomainError, recordAudit } from "@berth/core";
import { actorOf } from "../context.ts";
import { hostFor } from "../routers/host-access.ts";
import type { FleetRequest } from "./context.ts";
import { placeContainer } from "./placement.ts";

/*
 * `docker build` through the fleet endpoint: the classic /build API, run as one of Berth's builds
 * (history, log, audit) on one host. The host is chosen as classic Swarm chose it: build args
 * `constraint:node==h2` or `constraint:<label>==value` (`--build-arg constraint:node==h2`, which
 * are not passed to the Dockerfile), else the host with the fewest running containers. The output
 * is the agent's classic stream, relayed; the image stays on that host (`h2/app:1` in `docker
 * images`). The caller needs the operator role in the host's team.
 */

const BuildArgsSchema = z.record(
  z.string().max(1024),
  z
    .string()
    .max(1 << 20)
    .nullable(),
);
/** Output held for a client that does not read; past it, lines are left out with a note. */
const MAX_HELD_OUTPUT = 8 << 20;

export function buildRoutes(router: Router<FleetRequest>): void {
  router.post("/build", async (r) => {
    const q = r.query;
    const version = q.get("version");
    if (version === "2")
      throw new DockerApiError(
        501,
        "BuildKit (version=2) needs a build session, which Berth does not serve; the classic builder (version=1) builds with BuildKit's Dockerfile features",
      );
    if (q.get("remote"))
      throw badRequest("remote build contexts are not fetched: send the context as the request body, or build from git on the Builds page");
    let raw: z.output<typeof BuildArgsSchema> = {};
    try {
      raw = BuildArgsSchema.parse(JSON.parse(q.get("buildargs") || "{}"));
    } catch {
      throw badRequest("invalid buildargs: a JSON object of strings");
    }
    const env: string[] = [];
    const buildArgs: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (k.startsWith("constraint:")) env.push(`${k}=${v ?? ""}`);
      else if (v !== null) buildArgs[k] = v;
    }
    const { host } = await placeContainer(r, { Env: env });
    const h = await hostFor(r.ctx, host.id, "operator");
    const builds = r.ctx.builds;
    if (!builds) throw new DockerApiError(503, "this control-plane process runs no builds");
    const quiet = boolParam(q, "q");
    const ctx = r.ctx;
    let skipped = 0;
    const write = (msg: unknown) => {
      if (!r.res.headersSent) r.res.writeHead(200, { "Content-Type": "application/json" });
      r.res.write(`${JSON.stringify(msg)}\n`);
    };
    const output = (text: string) => {
      if (quiet) return;
      // A client that stops reading does not make the control plane hold a build's whole output.
      if (r.res.writableLength > MAX_HELD_OUTPUT) {
        skipped += text.length;
        return;
      }
      if (skipped) write({ stream: `[… ${skipped} characters of output left out: the client was not reading …]\n` });
      skipped = 0;
      write({ stream: text });
    };
    const actor = {
      userId: ctx.user?.id ?? null,
      name: ctx.user?.name || ctx.user?.email || (ctx.token ? `token ${ctx.token.name}` : "docker"),
    };
    const started = await builds.startFromStream(
      h.teamId,
      h.name,
      {
        hostId: h.id,
        dockerfile: q.get("dockerfile") || "Dockerfile",
        tags: q.getAll("t").filter(Boolean),
        buildArgs,
        ...(q.get("target") ? { target: q.get("target")! } : {}),
        noCache: boolParam(q, "nocache"),
        pull: boolParam(q, "pull"),
      },
      r.req,
      actor,
      output,
    );
    void recordAudit(ctx.db, {
      ...actorOf(ctx),
      action: "builds.create",
      target: h.id,
      result: "ok",
      detail: { build: started.id },
      sourceIp: ctx.sourceIp,
      channel: ctx.channel,
    }).catch((err: unknown) => ctx.logger.error({ err }, "audit write failed"));
    output(`Building on ${h.name} (build ${started.id})\n`);
    // The client going away (Ctrl-C) cancels the build, as with dockerd.
    r.res.on("close", () => {
      if (!r.res.writableFinished) void builds.cancel(started.id).catch(() => undefined);
    });
    const outcome = await started.done;
    if (outcome.status !== "succeeded") {
      const message = outcome.error ?? `the build ${outcome.status}`;
      if (!r.res.headersSent) throw new DomainError("INVALID", message);
      write({ errorDetail: { message }, error: message });
    } else {
      write({ aux: { ID: outcome.imageId } });
      if (quiet) write({ stream: `${outcome.imageId}\n` });
    }
    r.res.end();
  });
}
