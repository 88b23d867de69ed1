// Image endpoints: list, pull (create), search, inspect, history, tag, remove, push, prune, save,
// load, import, and commit.
import { PassThrough, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import type { PullProgress } from "../images/index.ts";
import type { ImageRecord } from "../images/index.ts";
import type { RegistryClient, RegistrySettings } from "../registry/index.ts";
import { familiarName, formatReference, parseReference, withDefaultTag } from "../registry/index.ts";
import type { AgentRuntime } from "../runtime.ts";
import type { ApiContext } from "./context.ts";
import { badRequest, DockerApiError, toDockerError } from "./errors.ts";
import { boolParam, filtersParam, labelsMatch } from "@berth/docker-api";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";
import { registryDomain } from "./system.ts";
import { imageInspectForVersion, imageSummaryForVersion } from "@berth/docker-api";
import { searchRequest } from "./image-search.ts";
import { atLeast } from "@berth/docker-api";

const LIST_FILTERS = ["dangling", "label", "reference", "before", "since", "until"] as const;

/** The X-Registry-Auth header: base64(url) JSON with username/password (or a token) for one registry. */
const RegistryAuthSchema = z.object({
  username: z.string().max(1024).optional(),
  password: z.string().max(65_536).optional(),
  serveraddress: z.string().max(1024).optional(),
  identitytoken: z.string().max(65_536).optional(),
  auth: z.string().max(65_536).optional(),
  email: z.string().optional(),
});

export function registryClientFor(rt: AgentRuntime, ctx: ApiContext, domain: string): RegistryClient {
  const header = ctx.headers["x-registry-auth"];
  let settings: RegistrySettings | null = null;
  if (typeof header === "string" && header.trim() && header.trim() !== "e30=") {
    let parsed: z.output<typeof RegistryAuthSchema>;
    try {
      parsed = RegistryAuthSchema.parse(JSON.parse(Buffer.from(header.trim(), "base64url").toString("utf8")));
    } catch {
      throw badRequest("invalid X-Registry-Auth header: expected base64-encoded JSON credentials");
    }
    let { username, password } = parsed;
    if (!username && parsed.auth)
      [username, password] = Buffer.from(parsed.auth, "base64").toString("utf8").split(/:(.*)/s) as [string, string];
    if (username) settings = { credentials: { username, password: password ?? "" } };
  }
  return rt.registryClient((d) => (settings && (d === domain || registryDomain(d) === domain) ? settings : {}));
}

/** Docker's JSON progress line for a byte count: the bar the CLI draws itself from progressDetail. */
function progressLine(id: string, status: string, current?: number, total?: number): Record<string, unknown> {
  return { status, progressDetail: current !== undefined ? { current, total } : {}, id };
}

/** Writes JSON messages; an error after the headers went out becomes Docker's errorDetail message. */
function jsonStream(ctx: ApiContext): { write(msg: unknown): void; fail(e: unknown): void; out: Writable } {
  const out = ctx.stream(200, "application/json");
  return {
    out,
    write: (msg) => out.write(`${JSON.stringify(msg)}\n`),
    fail: (e) => {
      const { message } = toDockerError(e);
      out.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
    },
  };
}

/** A JSON message stream whose headers (and `first` message) go out with its first write, so an early error can still be a status. */
function lazyJsonStream(
  ctx: ApiContext,
  first: unknown,
): { write(msg: unknown): void; fail(e: unknown): void; started(): boolean; end(): void } {
  let stream: ReturnType<typeof jsonStream> | null = null;
  const open = () => {
    if (!stream) {
      stream = jsonStream(ctx);
      stream.write(first);
    }
    return stream;
  };
  return {
    write: (msg) => open().write(msg),
    fail: (e) => open().fail(e),
    started: () => stream !== null,
    end: () => open().out.end(),
  };
}

export function imageRoutes(r: Router, o: DockerApiOptions): void {
  const rt = o.runtime;
  const find = (name: string): ImageRecord | undefined => {
    try {
      return rt.images.resolve(name);
    } catch {
      return undefined;
    }
  };

  r.get("/images/json", async (ctx) => {
    const f = filtersParam(ctx.query, LIST_FILTERS);
    const dangling = f.get("dangling")?.[0];
    if (dangling !== undefined && !["true", "false", "1", "0"].includes(dangling))
      throw badRequest(`invalid filter 'dangling=${dangling}'`);
    let rows = await rt.images.list({
      all: boolParam(ctx.query, "all"),
      ...(dangling !== undefined ? { dangling: dangling === "true" || dangling === "1" } : {}),
    });
    // Before 1.41, `filter` (singular) was a reference pattern, as `docker images PATTERN` sent it.
    const legacyFilter = atLeast(ctx.version, "1.41") ? "" : (ctx.query.get("filter") ?? "");
    const refs = legacyFilter ? [...(f.get("reference") ?? []), legacyFilter] : f.get("reference");
    const createdOf = (name: string) => {
      const img = find(name);
      if (!img) throw badRequest(`No such image: ${name}`);
      return Date.parse(img.createdAt) / 1000;
    };
    const before = f.get("before")?.[0];
    const since = f.get("since")?.[0];
    const beforeT = before ? createdOf(before) : undefined;
    const sinceT = since ? createdOf(since) : undefined;
    rows = rows.filter((img) => {
      if (refs?.length && !(img.RepoTags ?? []).some((t) => refs.some((p) => referenceMatches(t, p)))) return false;
      if (!labelsMatch(img.Labels as Record<string, string> | null, f.get("label"))) return false;
      if (beforeT !== undefined && img.Created >= beforeT) return false;
      if (sinceT !== undefined && img.Created <= sinceT) return false;
      return true;
    });
    ctx.json(
      200,
      rows.map((img) => imageSummaryForVersion(img, ctx.version)),
    );
  });

  r.post("/images/create", async (ctx) => {
    const fromImage = ctx.query.get("fromImage");
    const fromSrc = ctx.query.get("fromSrc");
    if (fromSrc !== null) {
      if (fromSrc !== "-")
        throw badRequest("importing from a URL is not supported by Berth; send the tarball as the request body (fromSrc=-)");
      const repo = ctx.query.get("repo") || "";
      const tag = ctx.query.get("tag") || "";
      const reference = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
      const message = ctx.query.get("message");
      const changes = ctx.query.getAll("changes");
      const img = await rt.images.import(ctx.req, { ...(reference ? { reference } : {}), changes, ...(message ? { message } : {}) });
      jsonStream(ctx).out.end(`${JSON.stringify({ status: img.id })}\n`);
      return;
    }
    if (!fromImage) throw badRequest("fromImage or fromSrc is required");
    const tag = ctx.query.get("tag") || "";
    const reference = tag ? (tag.startsWith("sha256:") ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
    const ref = withDefaultTag(parseReference(reference));
    const platformParam = ctx.query.get("platform");
    const platform = platformParam ? parsePlatformParam(platformParam) : undefined;
    const before = find(formatReference(ref));
    const images = rt.imagesWith(registryClientFor(rt, ctx, ref.domain));
    // As dockerd: the answer starts with the first progress. A pull that fails before (no such
    // image, registry unreachable) is an error status; one that fails after, an error in the stream.
    const stream = lazyJsonStream(ctx, { status: `Pulling from ${ref.path}`, id: ref.tag ?? ref.digest ?? "latest" });
    try {
      const img = await images.pull(formatReference(ref), {
        ...(platform ? { platform } : {}),
        onProgress: (p: PullProgress) => {
          if (p.status === "Downloading") stream.write(progressLine(p.id, "Downloading", p.current, p.total));
          else stream.write(progressLine(p.id, p.status === "Waiting" ? "Pulling fs layer" : p.status));
        },
      });
      const digest = img.repoDigests[0]?.split("@")[1];
      if (digest) stream.write({ status: `Digest: ${digest}` });
      const name = familiarName(ref) + (ref.digest ? `@${ref.digest}` : `:${ref.tag}`);
      stream.write({
        status: before?.id === img.id ? `Status: Image is up to date for ${name}` : `Status: Downloaded newer image for ${name}`,
      });
    } catch (e) {
      if (!stream.started()) throw e;
      stream.fail(e);
    }
    stream.end();
  });

  r.get("/images/search", async (ctx) => {
    const { domain, term, limit, keep } = searchRequest(ctx);
    const results = await registryClientFor(rt, ctx, domain).search(domain, term, limit);
    ctx.json(200, results.filter(keep));
  });

  // No names is an archive of no images, as dockerd 20.10 writes it.
  r.get("/images/get", async (ctx) => {
    await pipeline(await rt.images.save(ctx.query.getAll("names")), ctx.stream(200, "application/x-tar"));
  });
  r.get("/images/{name*}/get", async (ctx) => {
    await pipeline(await rt.images.save([ctx.params.name!]), ctx.stream(200, "application/x-tar"));
  });

  // As dockerd: always 200, and a bad archive is an error message in the stream after the images loaded before it.
  r.post("/images/load", async (ctx) => {
    const stream = jsonStream(ctx);
    // The archive goes through a pipe of its own: a failed parse must not take the connection (and the answer) with it.
    const body = new PassThrough();
    ctx.req.pipe(body);
    try {
      await rt.images.load(body, (img) => {
        if (img.tags.length) for (const t of img.tags) stream.write({ stream: `Loaded image: ${t}\n` });
        else stream.write({ stream: `Loaded image ID: ${img.id}\n` });
      });
    } catch (e) {
      ctx.req.unpipe(body);
      ctx.req.resume();
      stream.fail(e);
    }
    stream.out.end();
  });

  r.post("/images/prune", async (ctx) => {
    const f = filtersParam(ctx.query, ["dangling", "until", "label", "label!"]);
    const dangling = f.get("dangling")?.[0];
    if (f.has("until") || f.has("label") || f.has("label!")) throw badRequest("image prune supports only the dangling filter in Berth");
    ctx.json(200, await rt.images.prune({ all: dangling === "false" || dangling === "0" }));
  });

  r.get("/images/{name*}/json", async (ctx) =>
    ctx.json(200, imageInspectForVersion(await rt.images.inspect(ctx.params.name!), ctx.version)),
  );
  // What the registry holds for a reference, without pulling it (docker manifest inspect, SDKs' get_registry_data).
  r.get("/distribution/{name*}/json", async (ctx) => {
    const name = ctx.params.name!;
    let domain: string;
    try {
      domain = parseReference(name).domain;
    } catch (e) {
      throw badRequest(e instanceof Error ? e.message : "invalid reference format");
    }
    ctx.json(200, await rt.imagesWith(registryClientFor(rt, ctx, domain)).distribution(name));
  });
  r.get("/images/{name*}/history", async (ctx) => ctx.json(200, await rt.images.history(ctx.params.name!)));

  r.post("/images/{name*}/tag", (ctx) => {
    const repo = ctx.query.get("repo");
    if (!repo) throw badRequest("repository name is required (?repo=)");
    const tag = ctx.query.get("tag") || "latest";
    rt.images.tag(ctx.params.name!, `${repo}:${tag}`);
    ctx.empty(201);
  });

  r.delete("/images/{name*}", async (ctx) => {
    ctx.json(200, await rt.images.remove(ctx.params.name!, { force: boolParam(ctx.query, "force") }));
  });

  r.post("/images/{name*}/push", async (ctx) => {
    const tag = ctx.query.get("tag") || "";
    const name = tag ? `${ctx.params.name}:${tag}` : ctx.params.name!;
    const ref = withDefaultTag(parseReference(name));
    if (!find(formatReference(ref))) throw toPushNotFound(name);
    const stream = jsonStream(ctx);
    stream.write({
      status: `The push refers to repository [${ref.domain === "docker.io" ? `docker.io/${ref.path}` : `${ref.domain}/${ref.path}`}]`,
    });
    try {
      const images = rt.imagesWith(registryClientFor(rt, ctx, ref.domain));
      const res = await images.push(formatReference(ref), (p) => stream.write(progressLine(p.id, p.status)));
      stream.write({ status: `${res.tag}: digest: ${res.digest} size: ${res.size}` });
      stream.write({ progressDetail: {}, aux: { Tag: res.tag, Digest: res.digest, Size: res.size } });
    } catch (e) {
      stream.fail(e);
    }
    stream.out.end();
  });

  r.post("/commit", async (ctx) => {
    const container = ctx.query.get("container");
    if (!container) throw badRequest("container is required");
    // The body may hold a config to merge; Berth takes Dockerfile-style changes instead.
    const body = await ctx.body(z.record(z.string(), z.unknown()).nullable());
    if (
      body &&
      Object.values(body).some(
        (v) =>
          v !== null &&
          v !== "" &&
          v !== false &&
          !(Array.isArray(v) && v.length === 0) &&
          !(typeof v === "object" && Object.keys(v as object).length === 0),
      )
    ) {
      throw badRequest("a config in the commit body is not supported by Berth; use changes (docker commit --change)");
    }
    const repo = ctx.query.get("repo") || "";
    const tag = ctx.query.get("tag") || "";
    const res = await rt.commit(container, {
      ...(repo ? { reference: tag ? `${repo}:${tag}` : repo } : {}),
      changes: ctx.query.getAll("changes"),
      ...(ctx.query.get("comment") ? { comment: ctx.query.get("comment")! } : {}),
      ...(ctx.query.get("author") ? { author: ctx.query.get("author")! } : {}),
      pause: boolParam(ctx.query, "pause", true),
    });
    ctx.json(201, res);
  });
}

const toPushNotFound = (name: string) => new DockerApiError(404, `An image does not exist locally with the tag: ${name}`);

/** Docker's reference filter: a pattern on the familiar name, `*` within a path segment. */
function referenceMatches(tag: string, pattern: string): boolean {
  const withTag = pattern.includes(":") ? pattern : `${pattern}:*`;
  const re = new RegExp(`^${withTag.replace(/[.+?^$()[\]\\|{}]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  return re.test(tag);
}

function parsePlatformParam(p: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = p.split("/");
  if (!os || !architecture) throw badRequest(`invalid platform: ${p} (expected os/arch[/variant])`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}
