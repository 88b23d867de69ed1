// Container endpoints of the Engine API, over the agent's container service.
import { setTimeout as sleep } from "node:timers/promises";
import { pipeline } from "node:stream/promises";
import { ContainerNameSchema, HostConfigSchema } from "@berth/protocol";
import { z } from "zod";
import type { AttachFrame } from "../runtime/index.ts";
import type { ImageRecord } from "../images/index.ts";
import { parseReference } from "../registry/index.ts";
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, type Platform } from "../registry/index.ts";
import { parseLinks, type WaitCondition } from "../containers/index.ts";
import type { ApiContext } from "./context.ts";
import { badRequest, DockerApiError } from "./errors.ts";
import { containerConfigFromDocker, HOST_UNSUPPORTED, vet } from "@berth/docker-api";
import { createBodyForVersion, streamContentType, updateBodyForVersion } from "@berth/docker-api";
import { atLeast } from "@berth/docker-api";
import { archiveRoutes } from "./archive.ts";
import { boolParam, filtersParam, intParam, labelsMatch, timeParam } from "@berth/docker-api";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";
import { containerSizes, directorySize } from "./sizes.ts";
import { DetachWatcher, muxFrame, parseDetachKeys } from "@berth/docker-api";

const LIST_FILTERS = [
  "id",
  "name",
  "label",
  "status",
  "ancestor",
  "exited",
  "health",
  "network",
  "volume",
  "before",
  "since",
  "publish",
  "expose",
  "is-task",
] as const;
const STATES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** Docker's update body: resources and the restart policy; the rest of Docker's resources only at zero values. */
const UPDATE_SUPPORTED = [
  "Memory",
  "MemorySwap",
  "MemoryReservation",
  "NanoCpus",
  "CpuShares",
  "CpuQuota",
  "CpuPeriod",
  "CpusetCpus",
  "CpusetMems",
  "PidsLimit",
  "RestartPolicy",
];
// Resources Docker's update takes that Berth's update does not (yet) change.
const UPDATE_UNSUPPORTED = [...HOST_UNSUPPORTED, "OomKillDisable", "Init", "Ulimits", "MemorySwappiness", "Devices", "DeviceCgroupRules"];

const tty = (rt: DockerApiOptions["runtime"], id: string) => Boolean(rt.containers.get(id).config.Tty);

/**
 * A log line's time as dockerd prints it with `timestamps`: UTC, "Z", nine fraction digits (Go's
 * RFC3339NanoFixed); conmon writes an offset ("+00:00") and may write fewer digits.
 */
function dockerLogTime(time: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : Number.NaN;
  if (!m || Number.isNaN(ms)) return time;
  return `${new Date(ms).toISOString().slice(0, 19)}.${(m[2] ?? "").padEnd(9, "0")}Z`;
}

export function containerRoutes(r: Router, o: DockerApiOptions): void {
  const rt = o.runtime;
  const c = rt.containers;

  r.get("/containers/json", async (ctx) => {
    const f = filtersParam(ctx.query, LIST_FILTERS);
    for (const s of f.get("status") ?? []) if (!STATES.includes(s)) throw badRequest(`invalid filter 'status=${s}'`);
    let all = boolParam(ctx.query, "all") || f.has("status") || f.has("exited");
    const limit = intParam(ctx.query, "limit", -1, -1);
    if (limit > 0) all = true;
    let rows = c.list({ all });
    const anyOf = (key: string, test: (v: string) => boolean) => {
      const want = f.get(key);
      return !want?.length || want.some(test);
    };
    const createdOf = (ref: string) => {
      try {
        return Date.parse(c.get(ref).created) / 1000;
      } catch {
        throw badRequest(`No such container: ${ref}`);
      }
    };
    const before = f.get("before")?.[0];
    const since = f.get("since")?.[0];
    const beforeT = before ? createdOf(before) : undefined;
    const sinceT = since ? createdOf(since) : undefined;
    rows = rows.filter((row) => {
      // The row's record has what the summary lacks (exit code, health, exact creation time): no inspect per row.
      const rec = c.get(row.Id);
      const created = Date.parse(rec.created) / 1000;
      const networks = Object.keys(row.NetworkSettings.Networks);
      const mounts = row.Mounts;
      return (
        anyOf("id", (v) => row.Id.startsWith(v)) &&
        anyOf("name", (v) => row.Names.some((n) => n.slice(1).includes(v.replace(/^\//, "")))) &&
        anyOf("status", (v) => row.State === v) &&
        anyOf("exited", (v) => row.State === "exited" && String(rec.state.ExitCode) === v) &&
        anyOf(
          "ancestor",
          (v) => row.Image === v || row.ImageID === v || row.ImageID.startsWith(`sha256:${v}`) || row.Image.split(":")[0] === v,
        ) &&
        anyOf("health", (v) => (rec.state.Health?.Status ?? "none") === v) &&
        anyOf("network", (v) => networks.includes(v)) &&
        anyOf("volume", (v) => mounts.some((m) => m.Name === v || m.Source === v || m.Destination === v)) &&
        anyOf("publish", (v) => row.Ports.some((p) => `${p.PublicPort}/${p.Type}` === (v.includes("/") ? v : `${v}/tcp`))) &&
        anyOf("expose", (v) => row.Ports.some((p) => `${p.PrivatePort}/${p.Type}` === (v.includes("/") ? v : `${v}/tcp`))) &&
        anyOf("is-task", (v) => v === "false") &&
        labelsMatch(row.Labels, f.get("label")) &&
        (beforeT === undefined || created < beforeT) &&
        (sinceT === undefined || created > sinceT)
      );
    });
    if (limit > 0) rows = rows.slice(0, limit);
    if (boolParam(ctx.query, "size")) {
      rows = await Promise.all(rows.map(async (row) => ({ ...row, ...(await containerSizes(rt, row.Id, row.ImageID)) })));
    }
    ctx.json(200, rows);
  });

  r.post("/containers/create", async (ctx) => {
    const name = ctx.query.get("name");
    if (name) ContainerNameSchema.parse(name);
    const config = containerConfigFromDocker(
      createBodyForVersion(await ctx.body(z.unknown()), ctx.version),
      rt.networks ? "bridge" : "none",
    );
    // An image is named by ID or by reference; a malformed reference is the client's error, not a missing image.
    if (typeof config.Image === "string" && !/^(sha256:)?[0-9a-f]{12,64}$/.test(config.Image)) parseReference(config.Image);
    // `platform` (1.41 and up) names the image variant wanted; a local image for another platform
    // is a 404, as with dockerd, so the CLI pulls the right one instead of running the wrong one.
    const platform = atLeast(ctx.version, "1.41") ? ctx.query.get("platform") : null;
    if (platform && typeof config.Image === "string") await checkImagePlatform(rt, config.Image, platform);
    const created = await c.create(config, name ? name.replace(/^\//, "") : undefined);
    ctx.json(201, { Id: created.Id, Warnings: created.Warnings ?? [] });
  });

  r.get("/containers/{id}/json", async (ctx) => {
    const info = c.inspect(ctx.params.id!);
    if (boolParam(ctx.query, "size")) ctx.json(200, { ...info, ...(await containerSizes(rt, info.Id, info.Image)) });
    else ctx.json(200, info);
  });

  r.get("/containers/{id}/top", async (ctx) => ctx.json(200, await c.top(ctx.params.id!)));

  r.get("/containers/{id}/logs", async (ctx) => {
    const id = c.get(ctx.params.id!).id;
    const stdout = boolParam(ctx.query, "stdout");
    const stderr = boolParam(ctx.query, "stderr");
    if (!stdout && !stderr) throw badRequest("Bad parameters: you must choose at least one stream");
    const follow = boolParam(ctx.query, "follow");
    const timestamps = boolParam(ctx.query, "timestamps");
    const tailRaw = ctx.query.get("tail");
    const tail = tailRaw === null || tailRaw === "" || tailRaw === "all" ? undefined : intParam(ctx.query, "tail", 0, 0);
    const since = timeParam(ctx.query, "since");
    const until = timeParam(ctx.query, "until");
    const raw = tty(rt, id);
    const out = ctx.stream(200, streamContentType(raw, ctx.version));
    const batches = c.logBatches(id, {
      stdout,
      stderr,
      follow,
      signal: ctx.signal,
      ...(tail !== undefined ? { tail } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
    });
    try {
      // One write per batch (what one read of the log gave): a write per line cost a chunk and a
      // syscall each, and the last line of a burst waited for all the others.
      for await (const batch of batches) {
        const frames = batch.map((e) => {
          const data = Buffer.from(timestamps ? `${dockerLogTime(e.time)} ${e.line}` : e.line);
          return raw ? data : muxFrame(e.stream, data);
        });
        const ok = out.write(Buffer.concat(frames));
        if (!ok) await new Promise((resolve) => out.once("drain", resolve));
      }
    } catch (e) {
      if (!ctx.signal.aborted) throw e;
    }
    out.end();
  });

  r.get("/containers/{id}/export", async (ctx) => {
    const tar = await rt.exportContainer(ctx.params.id!);
    await pipeline(tar, ctx.stream(200, "application/x-tar"));
  });

  r.get("/containers/{id}/stats", async (ctx) => {
    const id = c.get(ctx.params.id!).id;
    const stream = boolParam(ctx.query, "stream", true);
    // one-shot came with 1.41; older requests always get two samples.
    const oneShot = atLeast(ctx.version, "1.41") && boolParam(ctx.query, "one-shot");
    if (!stream && oneShot) {
      ctx.json(200, await c.stats(id));
      return;
    }
    // Without streaming, the answer carries a previous sample's CPU figures. dockerd waits a second
    // for a second sample; here the sampler's round (shared by all requests) is the previous one,
    // at least 100 ms old so the CPU share means something: one read now, instead of two a second apart.
    if (!stream) {
      c.wantStats();
      const last = c.lastStats(id);
      if (last) {
        const wait = 100 - (Date.now() - last.at);
        if (wait > 0) await sleep(wait);
        ctx.json(200, await c.stats(id, last.sample));
        return;
      }
    }
    const out = ctx.stream(200, "application/json");
    let n = 0;
    for await (const s of c.statsStream(id, { signal: ctx.signal })) {
      n++;
      // Without streaming, dockerd answers with the second sample, so precpu_stats is filled in.
      if (!stream && n < 2) continue;
      out.write(`${JSON.stringify(s)}\n`);
      if (!stream) break;
    }
    out.end();
  });

  r.post("/containers/{id}/resize", (ctx) => {
    c.resize(ctx.params.id!, intParam(ctx.query, "h", 0, 0, 10_000), intParam(ctx.query, "w", 0, 0, 10_000));
    ctx.empty(200);
  });

  r.post("/containers/{id}/start", async (ctx) => {
    await c.start(ctx.params.id!);
    ctx.empty(204);
  });

  const timeout = (ctx: ApiContext) => {
    const t = ctx.query.get("t") ?? ctx.query.get("timeout");
    if (t === null || t === "") return undefined;
    if (!/^-?\d+$/.test(t)) throw badRequest(`invalid value for t: ${JSON.stringify(t)}`);
    return Number(t);
  };
  r.post("/containers/{id}/stop", async (ctx) => {
    // signal came with 1.42; dockerd ignores it before.
    const signal = (atLeast(ctx.version, "1.42") && ctx.query.get("signal")) || undefined;
    await c.stop(ctx.params.id!, timeout(ctx), signal);
    ctx.empty(204);
  });
  r.post("/containers/{id}/restart", async (ctx) => {
    await c.restart(ctx.params.id!, timeout(ctx));
    ctx.empty(204);
  });
  r.post("/containers/{id}/kill", async (ctx) => {
    await c.kill(ctx.params.id!, ctx.query.get("signal") || "SIGKILL");
    ctx.empty(204);
  });
  r.post("/containers/{id}/pause", async (ctx) => {
    await c.pause(ctx.params.id!);
    ctx.empty(204);
  });
  r.post("/containers/{id}/unpause", async (ctx) => {
    await c.unpause(ctx.params.id!);
    ctx.empty(204);
  });
  r.post("/containers/{id}/update", async (ctx) => {
    const body = updateBodyForVersion(await ctx.body(z.record(z.string(), z.unknown())), ctx.version);
    const changes = HostConfigSchema.partial().parse(vet(body, "", UPDATE_SUPPORTED, UPDATE_UNSUPPORTED));
    ctx.json(200, await c.update(ctx.params.id!, changes));
  });
  r.post("/containers/{id}/rename", (ctx) => {
    const name = ctx.query.get("name");
    if (!name) throw badRequest("a new name is required (?name=)");
    c.rename(ctx.params.id!, ContainerNameSchema.parse(name).replace(/^\//, ""));
    ctx.empty(204);
  });

  r.post("/containers/{id}/wait", async (ctx) => {
    // Conditions came with 1.30; before, a wait is for the container to stop.
    const condition = ((atLeast(ctx.version, "1.30") && ctx.query.get("condition")) || "not-running") as WaitCondition;
    if (!["not-running", "next-exit", "removed"].includes(condition)) throw badRequest(`invalid condition: "${condition}"`);
    const id = c.get(ctx.params.id!).id;
    const abort = new AbortController();
    ctx.signal.addEventListener("abort", () => abort.abort());
    // Headers go out at once, as dockerd: clients start waiting before they start the container.
    const pending = c.wait(id, condition, abort.signal);
    const out = ctx.stream(200, "application/json");
    try {
      const result = await pending;
      out.end(`${JSON.stringify({ StatusCode: result.StatusCode, ...(result.Error ? { Error: result.Error } : {}) })}\n`);
    } catch (e) {
      out.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: e instanceof Error ? e.message : String(e) } })}\n`);
    }
  });

  r.delete("/containers/{id}", async (ctx) => {
    const rec = c.get(ctx.params.id!);
    // A container's own name is no link: dockerd's rmLink refuses it (a plain error, so a 500).
    if (boolParam(ctx.query, "link")) throw new DockerApiError(500, "Conflict, cannot remove the default link name of the container");
    await c.remove(rec.id, { force: boolParam(ctx.query, "force"), volumes: boolParam(ctx.query, "v") });
    ctx.empty(204);
  });

  // dockerd also knows a linked container as /PARENT/ALIAS (a legacy link of PARENT's
  // HostConfig.Links): with link=1 that link is removed from PARENT, without it the linked container is.
  r.delete("/containers/{parent}/{alias}", async (ctx) => {
    const name = `${ctx.params.parent}/${ctx.params.alias}`;
    const noSuch = new DockerApiError(404, `No such container: ${name}`);
    let parent: ReturnType<typeof c.get>;
    try {
      parent = c.get(ctx.params.parent!);
    } catch {
      throw noSuch;
    }
    const links = parent.config.HostConfig.Links ?? [];
    const at = parseLinks(links).findIndex((l) => l.alias === ctx.params.alias);
    if (at < 0) throw noSuch;
    if (boolParam(ctx.query, "link")) {
      c.removeLink(parent.id, ctx.params.alias!);
    } else {
      const child = c.get(parseLinks(links)[at]!.target);
      await c.remove(child.id, { force: boolParam(ctx.query, "force"), volumes: boolParam(ctx.query, "v") });
    }
    ctx.empty(204);
  });

  r.post("/containers/prune", async (ctx) => {
    const f = filtersParam(ctx.query, ["until", "label", "label!"]);
    const until = f.get("until")?.[0];
    const cutoff = until === undefined ? undefined : parseUntil(until);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const row of c.list({ all: true })) {
      if (row.State === "running" || row.State === "paused" || row.State === "restarting") continue;
      if (cutoff !== undefined && row.Created >= cutoff) continue;
      if (!labelsMatch(row.Labels, f.get("label")) || !labelsMatch(row.Labels, f.get("label!"), true)) continue;
      const size = await directorySize(c.upperDir(row.Id));
      try {
        await c.remove(row.Id);
        deleted.push(row.Id);
        reclaimed += size;
      } catch {
        // started or removed meanwhile: not pruned
      }
    }
    ctx.json(200, { ContainersDeleted: deleted, SpaceReclaimed: reclaimed });
  });

  r.post("/containers/{id}/attach", async (ctx) => {
    const id = c.get(ctx.params.id!).id;
    const wantStdin = boolParam(ctx.query, "stdin");
    const stdout = boolParam(ctx.query, "stdout");
    const stderr = boolParam(ctx.query, "stderr");
    const stream = boolParam(ctx.query, "stream");
    const logs = boolParam(ctx.query, "logs");
    const keys = parseDetachKeys(ctx.query.get("detachKeys"));
    const raw = tty(rt, id);
    const session = stream ? await c.attach(id, { stdin: wantStdin, stdout, stderr }) : null;
    const conn = ctx.hijack(streamContentType(raw, ctx.version));
    conn.on("error", () => session?.detach());
    const send = (stream: "stdout" | "stderr", data: Buffer) => conn.write(raw ? data : muxFrame(stream, data));
    if (logs) for await (const e of c.logs(id, { stdout, stderr })) send(e.stream, Buffer.from(e.line));
    if (!session) {
      conn.end();
      return;
    }
    session.output.on("data", (f: AttachFrame) => {
      if (!send(f.stream, f.data)) {
        session.output.pause();
        conn.once("drain", () => session.output.resume());
      }
    });
    session.output.once("end", () => conn.end());
    conn.once("close", () => session.detach());
    if (wantStdin && session.stdin) {
      const watcher = new DetachWatcher(keys);
      const stdin = session.stdin;
      conn.on("data", (chunk: Buffer) => {
        const { pass, detach } = watcher.feed(chunk);
        if (pass.length) stdin.write(pass);
        if (detach) {
          session.detach();
          conn.end();
        }
      });
      // The client closed its writing side (stdin hit EOF): so does the container's stdin.
      conn.once("end", () => stdin.end());
    } else {
      conn.resume();
    }
  });

  archiveRoutes(r, o);
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/** Refuses a local image whose platform is not the one asked for (dockerd's 404 and wording). */
async function checkImagePlatform(rt: DockerApiOptions["runtime"], image: string, platform: string): Promise<void> {
  let want: Platform;
  try {
    // dockerd accepts `os` alone, meaning this host's architecture, and normalises names as containerd does.
    const p = platform.toLowerCase().includes("/")
      ? parsePlatform(platform.toLowerCase())
      : { ...hostPlatform(), os: platform.toLowerCase() };
    want = { ...p, architecture: ARCH_ALIASES[p.architecture] ?? p.architecture };
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  let img: ImageRecord;
  try {
    img = rt.images.resolve(image);
  } catch {
    return; // not here: create answers No such image
  }
  const cfg = await rt.images.config(img);
  const have: Platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
  if (!platformMatches(want, have)) {
    throw new DockerApiError(
      404,
      `image with reference ${image} was found but its platform (${formatPlatform(have)}) ` +
        `does not match the specified platform (${formatPlatform(want)})`,
    );
  }
}

/** `until` for prune: a timestamp, or a duration before now such as 24h or 10m. */
function parseUntil(v: string): number {
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return Date.now() / 1000 - Number(d[1]) * { s: 1, m: 60, h: 3600 }[d[2] as "s" | "m" | "h"];
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new DockerApiError(400, `invalid until filter: ${v}`);
  return t / 1000;
}
