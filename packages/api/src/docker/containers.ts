import { z } from "zod";
import {
  anyFilter,
  badRequest,
  boolParam,
  containerConfigFromDocker,
  createBodyForVersion,
  DockerApiError,
  filtersParam,
  intParam,
  labelsMatch,
  muxFrame,
  type Router,
} from "@berth/docker-api";
import { type FleetRequest, type InventoryRow, inventoryOf, relayToResponse, splitHost } from "./context.ts";
import { placeContainer } from "./placement.ts";

/*
 * The fleet-wide engine view: every container on the caller's hosts, named `host/name`. Lists come
 * from the inventory the agents report (Postgres, so `docker ps` over thousands of hosts is one
 * query per page); everything about one container goes to its host through the same procedures as
 * the dashboard. `docker run` places the container with classic Swarm's constraints.
 */

/** A container's host, and how that host names it. */
export interface Located {
  hostId: string;
  hostName: string;
  /** The container's ID or its name on that host. */
  ref: string;
}

/**
 * Containers created or removed here in the last two minutes, by ID: what the hosts' inventory
 * reports (a few seconds behind) do not show yet. Bounded; entries expire.
 */
const recent = new Map<string, { hostId: string; hostName: string; name: string; at: number; removed?: boolean }>();
const RECENT_MAX = 10_000;
const RECENT_MS = 2 * 60_000;

function remember(id: string, entry: { hostId: string; hostName: string; name: string; removed?: boolean }): void {
  const now = Date.now();
  for (const [k, v] of recent) if (recent.size >= RECENT_MAX || now - v.at > RECENT_MS) recent.delete(k);
  recent.set(id, { ...entry, at: now });
}

/** A container by `host/name`, ID, unique ID prefix or name, as the Docker API resolves them. */
export async function locate(r: Pick<FleetRequest, "api">, ref: string): Promise<Located> {
  const { host, rest } = await splitHost(r, ref);
  if (host) return { hostId: host.id, hostName: host.name, ref: rest };
  // Container names hold no "/": a host part that names none of the caller's hosts finds nothing.
  if (ref.indexOf("/") > 0) throw new DockerApiError(404, `No such container: ${ref}`);
  const matches = (c: { id: string; name: string }) => c.id === ref || c.id.startsWith(ref) || c.name === ref;
  const fresh = Date.now() - RECENT_MS;
  const byId = new Map((await inventoryOf(r, "container", ref)).filter(matches).map((c) => [c.id, c]));
  // The recent list is every caller's: only the caller's own hosts count (nor show in an error).
  const visible = new Set((await r.api.hosts.list()).map((h) => h.id));
  for (const [id, v] of recent) {
    if (v.at < fresh || !visible.has(v.hostId) || !matches({ id, name: v.name })) continue;
    if (v.removed) byId.delete(id);
    else byId.set(id, { id, name: v.name, hostId: v.hostId, hostName: v.hostName } as InventoryRow);
  }
  const rows = [...byId.values()];
  const exact = rows.filter((c) => c.id === ref || c.name === ref);
  const hits = exact.length ? exact : rows;
  if (hits.length === 0) throw new DockerApiError(404, `No such container: ${ref}`);
  if (hits.length > 1) {
    const where = hits.map((c) => `${c.hostName}/${c.name}`).join(", ");
    throw badRequest(`multiple IDs found with provided prefix: ${ref} (${where}); name one as host/name`);
  }
  return { hostId: hits[0]!.hostId, hostName: hits[0]!.hostName, ref: hits[0]!.id };
}

const STATUS: Record<string, string> = {
  running: "Up",
  paused: "Up (Paused)",
  restarting: "Restarting",
  exited: "Exited",
  created: "Created",
  dead: "Dead",
  removing: "Removal In Progress",
};

function summaryOf(c: InventoryRow) {
  return {
    Id: c.id,
    Names: [`/${c.hostName}/${c.name}`],
    Image: c.image,
    ImageID: "",
    Command: "",
    Created: Math.floor(c.created.getTime() / 1000),
    Ports: [],
    Labels: { "com.berth.host": c.hostName, "com.berth.host.id": c.hostId },
    State: c.state,
    Status: STATUS[c.state] ?? c.state,
    HostConfig: { NetworkMode: "default" },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}

/** Frames of log lines the agent may send ahead of what the client has taken. */
const LOG_WINDOW = 8;

/**
 * `docker logs -f`: the host's log stream relayed as Docker's frames. Credit goes back to the agent
 * only as the client takes the bytes (the response drains), so a slow client holds at most
 * LOG_WINDOW frames here; the stream closes with the client's connection.
 */
function followLogs(
  r: FleetRequest,
  hostId: string,
  id: string,
  o: { stdout: boolean; stderr: boolean; tail: number; tty: boolean; timestamps: boolean },
): Promise<void> {
  return relayToResponse(
    r,
    { hostId, kind: "logs", args: { id, follow: true, stdout: o.stdout, stderr: o.stderr, tail: o.tail }, window: LOG_WINDOW },
    o.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    (d) =>
      d.lines.map(([, s, time, text]) => {
        const data = Buffer.from(o.timestamps ? `${time} ${text}` : text);
        return o.tty ? data : muxFrame(s === "o" ? "stdout" : "stderr", data);
      }),
  );
}

export function containerRoutes(router: Router<FleetRequest>): void {
  router.get("/containers/json", async (r) => {
    const all = boolParam(r.query, "all");
    const limit = intParam(r.query, "limit", -1, -1);
    const f = filtersParam(r.query, ["id", "name", "status", "label", "ancestor", "node"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    let rows = (await inventoryOf(r, "container"))
      .filter((c) => all || c.state === "running" || c.state === "paused" || c.state === "restarting")
      .filter(
        (c) =>
          any("id", (v) => c.id.startsWith(v)) &&
          any("name", (v) => `${c.hostName}/${c.name}`.includes(v.replace(/^\//, ""))) &&
          any("status", (v) => c.state === v) &&
          any("ancestor", (v) => c.image === v || c.image.startsWith(`${v}:`)) &&
          any("node", (v) => c.hostName === v || c.hostId === v) &&
          labelsMatch({ "com.berth.host": c.hostName, "com.berth.host.id": c.hostId }, f.get("label")),
      )
      .sort((a, b) => b.created.getTime() - a.created.getTime());
    if (limit > 0) rows = rows.slice(0, limit);
    r.json(200, rows.map(summaryOf));
  });

  router.get("/containers/{id*}/json", async (r) => {
    const c = await locate(r, r.params.id!);
    const info = (await r.api.containers.inspect({ hostId: c.hostId, id: c.ref })) as Record<string, unknown>;
    // Fleet-wide, a container's name says its host.
    r.json(200, { ...info, Name: `/${c.hostName}${String(info.Name ?? "")}`, Node: { ID: c.hostId, Name: c.hostName } });
  });

  router.get("/containers/{id*}/top", async (r) => {
    const c = await locate(r, r.params.id!);
    r.json(200, await r.api.containers.top({ hostId: c.hostId, id: c.ref }));
  });

  router.get("/containers/{id*}/logs", async (r) => {
    const c = await locate(r, r.params.id!);
    const stdout = boolParam(r.query, "stdout");
    const stderr = boolParam(r.query, "stderr");
    if (!stdout && !stderr) throw badRequest("Bad parameters: you must choose at least one stream");
    const tailRaw = r.query.get("tail");
    const tail = tailRaw === null || tailRaw === "all" ? 10_000 : Math.min(10_000, intParam(r.query, "tail", 10_000));
    // Reading the container is the caller's check (viewer on its host), for the stream too.
    const info = (await r.api.containers.inspect({ hostId: c.hostId, id: c.ref })) as { Id: string; Config?: { Tty?: boolean } };
    const tty = Boolean(info.Config?.Tty);
    const timestamps = boolParam(r.query, "timestamps");
    if (boolParam(r.query, "follow")) return followLogs(r, c.hostId, info.Id, { stdout, stderr, tail, tty, timestamps });
    const lines = await r.api.containers.logs({ hostId: c.hostId, id: c.ref, tail });
    r.res.writeHead(200, {
      "Content-Type": tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    });
    for (const l of lines) {
      if ((l.stream === "stdout" && !stdout) || (l.stream === "stderr" && !stderr)) continue;
      const data = Buffer.from(timestamps ? `${l.time} ${l.line}` : l.line);
      r.res.write(tty ? data : muxFrame(l.stream, data));
    }
    r.res.end();
  });

  const lifecycle = (action: "start" | "pause" | "unpause") =>
    router.post(`/containers/{id*}/${action}`, async (r) => {
      const c = await locate(r, r.params.id!);
      await r.api.containers[action]({ hostId: c.hostId, id: c.ref });
      r.res.writeHead(204).end();
    });
  lifecycle("start");
  lifecycle("pause");
  lifecycle("unpause");
  for (const action of ["stop", "restart"] as const)
    router.post(`/containers/{id*}/${action}`, async (r) => {
      const c = await locate(r, r.params.id!);
      const t = r.query.get("t") ?? r.query.get("timeout");
      await r.api.containers[action]({
        hostId: c.hostId,
        id: c.ref,
        ...(t !== null ? { timeout: intParam(r.query, r.query.has("t") ? "t" : "timeout", 10, -1, 3600) } : {}),
      });
      r.res.writeHead(204).end();
    });
  router.post("/containers/{id*}/kill", async (r) => {
    const c = await locate(r, r.params.id!);
    await r.api.containers.kill({ hostId: c.hostId, id: c.ref, signal: r.query.get("signal") || "SIGKILL" });
    r.res.writeHead(204).end();
  });
  router.delete("/containers/{id*}", async (r) => {
    const c = await locate(r, r.params.id!);
    const gone = await r.api.containers.inspect({ hostId: c.hostId, id: c.ref }).catch(() => null);
    await r.api.containers.remove({ hostId: c.hostId, id: c.ref, force: boolParam(r.query, "force") });
    if (gone)
      remember(String(gone.Id), { hostId: c.hostId, hostName: c.hostName, name: String(gone.Name).replace(/^\//, ""), removed: true });
    r.res.writeHead(204).end();
  });

  router.post("/containers/create", async (r) => {
    const name = r.query.get("name")?.replace(/^\//, "") || undefined;
    const body = createBodyForVersion(await r.body(z.unknown()), r.version);
    const config = containerConfigFromDocker(body, "bridge");
    const { host, config: placed } = await placeContainer(r, config);
    const created = await r.api.containers.create({ hostId: host.id, ...(name ? { name } : {}), config: placed as never });
    remember(created.Id, { hostId: host.id, hostName: host.name, name: name ?? "" });
    r.json(201, { Id: created.Id, Warnings: created.Warnings ?? [] });
  });
}
