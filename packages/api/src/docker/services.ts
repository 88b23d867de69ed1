import { z } from "zod";
import { anyFilter, badRequest, boolParam, DockerApiError, filtersParam, labelsMatch, muxFrame, type Router } from "@berth/docker-api";
import { creatingTeam, type FleetRequest, resolveRef } from "./context.ts";
import { followServiceLogs } from "../service-logs.ts";
import { type FileIds, fromSwarmSpec, toSwarmSpec } from "./service-spec.ts";

/*
 * Swarm's services and tasks over Berth's: create, ls (with running and desired counts), inspect,
 * update (with the version check, and rollback=previous), rm; tasks ls and inspect. Names resolve
 * as in Swarm: an ID, a name, or a unique ID prefix.
 */

type ServiceRow = Awaited<ReturnType<FleetRequest["api"]["services"]["list"]>>[number];
type TaskRow = Awaited<ReturnType<FleetRequest["api"]["services"]["tasks"]>>[number];

const UPDATE_STATE: Record<string, string> = {
  updating: "updating",
  paused: "paused",
  completed: "completed",
  rollback_started: "rollback_started",
  rollback_paused: "rollback_paused",
  rollback_completed: "rollback_completed",
};

/** The IDs of the caller's secrets and configs by name, for the references specs show. */
async function fileIdsOf(r: FleetRequest): Promise<FileIds> {
  const byName = (rows: Array<{ name: string; id: string }>) => new Map(rows.map((x) => [x.name, x.id]));
  return { secrets: byName(await r.api.secrets.list()), configs: byName(await r.api.configs.list()) };
}

function serviceObject(s: ServiceRow, ids: FileIds, status: { running: number; desired: number } | null) {
  const spec = toSwarmSpec(s.spec, ids);
  return {
    ID: s.id,
    Version: { Index: s.version },
    CreatedAt: s.createdAt.toISOString(),
    UpdatedAt: s.updatedAt.toISOString(),
    Spec: spec,
    Endpoint: {
      Spec: spec.EndpointSpec,
      ...(spec.EndpointSpec.Ports ? { Ports: spec.EndpointSpec.Ports } : {}),
    },
    ...(s.updateState
      ? {
          UpdateStatus: {
            State: UPDATE_STATE[s.updateState] ?? s.updateState,
            ...(s.updateStartedAt ? { StartedAt: s.updateStartedAt.toISOString() } : {}),
            Message: s.updateMessage,
          },
        }
      : {}),
    ...(status ? { ServiceStatus: { RunningTasks: status.running, DesiredTasks: status.desired, CompletedTasks: 0 } } : {}),
  };
}

/** A service by ID, name, or unique ID prefix. */
async function findService(r: FleetRequest, ref: string): Promise<ServiceRow> {
  return resolveRef(
    await r.api.services.list(),
    ref,
    "service",
    (s) => s.id,
    (s) => s.name,
  );
}

/** Desired tasks: the replicas, or for a global service the tasks it means to run. */
async function desiredOf(r: FleetRequest, s: ServiceRow): Promise<number> {
  if (s.spec.mode.kind === "replicated") return s.spec.mode.replicas;
  const tasks = await r.api.services.tasks({ id: s.id });
  return tasks.filter((t) => t.desiredState === "running").length;
}

function taskObject(t: TaskRow, s: ServiceRow, ids: FileIds) {
  const spec = toSwarmSpec(s.spec, ids);
  return {
    ID: t.id,
    Version: { Index: t.updatedAt.getTime() },
    CreatedAt: t.createdAt.toISOString(),
    UpdatedAt: t.updatedAt.toISOString(),
    Labels: s.spec.labels,
    // The service's current template (a task of an older version ran that version's).
    Spec: spec.TaskTemplate,
    ServiceID: s.id,
    ...(s.spec.mode.kind === "replicated" ? { Slot: t.slot } : {}),
    ...(t.hostId ? { NodeID: t.hostId } : {}),
    Status: {
      Timestamp: t.updatedAt.toISOString(),
      State: t.state,
      Message: t.message || t.state,
      ...(t.state === "failed" || t.state === "rejected" ? { Err: t.message } : {}),
      ...(t.containerId ? { ContainerStatus: { ContainerID: t.containerId, PID: 0, ExitCode: t.exitCode ?? 0 } } : {}),
      PortStatus: {},
    },
    DesiredState: t.desiredState,
  };
}

/** Swarm's detail labels before each line, which the CLI turns into its `web.1.abc@h2 |` prefix. */
const detailsOf = (serviceId: string, hostId: string, taskId: string) =>
  `com.docker.swarm.node.id=${hostId},com.docker.swarm.service.id=${serviceId},com.docker.swarm.task.id=${taskId} `;

/**
 * `docker service logs -f`: each running task's log from its host, merged as lines come (the
 * dashboard's service log relay); a message's credit goes back once the client has taken its bytes.
 */
function followLogs(
  r: FleetRequest,
  s: ServiceRow,
  o: { stdout: boolean; stderr: boolean; tail: number; details: boolean; timestamps: boolean },
): Promise<void> {
  return new Promise((resolve) => {
    r.res.writeHead(200, { "Content-Type": "application/vnd.docker.multiplexed-stream" });
    r.res.flushHeaders();
    const follow = followServiceLogs(
      r.ctx,
      { service: s.id, follow: true, tail: o.tail, window: 16 },
      {
        data: (m) => {
          let ok = true;
          for (const [, stream, time, text] of m.lines) {
            if ((stream === "o" && !o.stdout) || (stream === "e" && !o.stderr)) continue;
            const line = `${o.timestamps ? `${time} ` : ""}${o.details ? detailsOf(s.id, m.task.hostId, m.task.id) : ""}${text}`;
            ok = r.res.write(muxFrame(stream === "o" ? "stdout" : "stderr", Buffer.from(line))) && ok;
          }
          if (ok) follow.ack(1);
          else r.res.once("drain", () => follow.ack(1));
        },
        end: () => {
          r.res.end();
          resolve();
        },
      },
      r.ctx.logger,
    );
    r.res.on("close", () => {
      follow.close();
      resolve();
    });
  });
}

export function serviceRoutes(router: Router<FleetRequest>): void {
  router.get("/services", async (r) => {
    const f = filtersParam(r.query, ["id", "label", "mode", "name"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const withStatus = boolParam(r.query, "status");
    const services = (await r.api.services.list()).filter(
      (s) =>
        any("id", (v) => s.id.startsWith(v)) &&
        any("name", (v) => s.name.startsWith(v)) &&
        any("mode", (v) => v === s.spec.mode.kind) &&
        labelsMatch(s.spec.labels, f.get("label")),
    );
    const out = [];
    const ids = await fileIdsOf(r);
    for (const s of services) out.push(serviceObject(s, ids, withStatus ? { running: s.running, desired: await desiredOf(r, s) } : null));
    r.json(200, out);
  });

  router.post("/services/create", async (r) => {
    const spec = fromSwarmSpec(await r.body(z.unknown()));
    const teamId = creatingTeam(r);
    if (!teamId) throw new DockerApiError(403, "this credential holds no role in any team");
    const existing = (await r.api.services.list()).find((s) => s.name === spec.name && s.teamId === teamId);
    if (existing)
      throw new DockerApiError(
        409,
        `rpc error: code = AlreadyExists desc = name conflicts with an existing object: service ${spec.name} already exists`,
      );
    const created = await r.api.services.create({ teamId, spec: spec as Record<string, unknown> });
    r.json(201, { ID: created.id, Warnings: [] });
  });

  router.get("/services/{id}", async (r) => {
    const s = await findService(r, r.params.id!);
    r.json(200, serviceObject(s, await fileIdsOf(r), null));
  });

  router.post("/services/{id}/update", async (r) => {
    const s = await findService(r, r.params.id!);
    const version = Number(r.query.get("version"));
    if (!Number.isSafeInteger(version)) throw badRequest("invalid service version: pass the service's Version.Index as ?version=");
    const raw = await r.body(z.unknown());
    if (version !== s.version) throw new DockerApiError(409, "update out of sequence: the service changed since it was read");
    if (r.query.get("rollback") === "previous") {
      await r.api.services.rollback({ id: s.id, version });
    } else {
      const spec = fromSwarmSpec(raw);
      if (spec.name !== s.name) throw badRequest("a service cannot be renamed");
      await r.api.services.update({ id: s.id, version, spec: spec as Record<string, unknown> });
    }
    r.json(200, { Warnings: [] });
  });

  /**
   * The merged logs of the service's tasks (the newest task of each slot that has a container),
   * ordered by time; with `details`, each line carries Swarm's task, service and node ids, which
   * the CLI turns into its `web.1.abc@h2 |` prefix; with `follow`, the lines as they come.
   */
  router.get("/services/{id}/logs", async (r) => {
    const s = await findService(r, r.params.id!);
    const stdout = boolParam(r.query, "stdout");
    const stderr = boolParam(r.query, "stderr");
    if (!stdout && !stderr) throw badRequest("Bad parameters: you must choose at least one stream");
    const tailRaw = r.query.get("tail");
    const tail = tailRaw === null || tailRaw === "" || tailRaw === "all" ? 10_000 : Math.min(10_000, Math.max(0, Number(tailRaw) || 0));
    const details = boolParam(r.query, "details");
    const timestamps = boolParam(r.query, "timestamps");
    if (boolParam(r.query, "follow")) return followLogs(r, s, { stdout, stderr, tail, details, timestamps });
    const tasks = (await r.api.services.tasks({ id: s.id })).filter((t) => t.containerId && t.hostId);
    const newest = new Map<number, TaskRow>();
    for (const t of tasks) if (!newest.has(t.slot) || newest.get(t.slot)!.createdAt < t.createdAt) newest.set(t.slot, t);
    const lines: { time: string; stream: "stdout" | "stderr"; text: string }[] = [];
    for (const t of newest.values()) {
      const got = await r.api.containers.logs({ hostId: t.hostId!, id: t.containerId!, tail }).catch(() => []);
      const prefix = details ? detailsOf(s.id, t.hostId!, t.id) : "";
      for (const l of got) lines.push({ time: l.time, stream: l.stream, text: `${timestamps ? `${l.time} ` : ""}${prefix}${l.line}` });
    }
    lines.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    r.res.writeHead(200, { "Content-Type": "application/vnd.docker.multiplexed-stream" });
    for (const l of lines)
      if ((l.stream === "stdout" && stdout) || (l.stream === "stderr" && stderr)) r.res.write(muxFrame(l.stream, Buffer.from(l.text)));
    r.res.end();
  });

  router.delete("/services/{id}", async (r) => {
    const s = await findService(r, r.params.id!);
    await r.api.services.remove({ id: s.id });
    r.res.writeHead(200).end();
  });

  router.get("/tasks", async (r) => {
    const f = filtersParam(r.query, ["id", "name", "service", "node", "desired-state", "label"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const services = (await r.api.services.list()).filter((s) => any("service", (v) => s.id === v || s.name === v || s.id.startsWith(v)));
    const nodes = f.get("node")?.length ? await r.api.hosts.list() : [];
    const ids = await fileIdsOf(r);
    const out = [];
    for (const s of services) {
      for (const t of await r.api.services.tasks({ id: s.id })) {
        const host = nodes.find((h) => h.id === t.hostId);
        if (
          any("id", (v) => t.id.startsWith(v)) &&
          any("name", (v) => `${s.name}.${t.slot}`.startsWith(v)) &&
          any("node", (v) => t.hostId === v || host?.name === v) &&
          any("desired-state", (v) => t.desiredState === v) &&
          // A task carries its service's labels (how `docker stack ps` finds a stack's tasks).
          labelsMatch(s.spec.labels, f.get("label"))
        )
          out.push(taskObject(t, s, ids));
      }
    }
    r.json(200, out);
  });

  router.get("/tasks/{id}", async (r) => {
    for (const s of await r.api.services.list()) {
      const t = (await r.api.services.tasks({ id: s.id })).find((x) => x.id === r.params.id || x.id.startsWith(r.params.id!));
      if (t) return r.json(200, taskObject(t, s, await fileIdsOf(r)));
    }
    throw new DockerApiError(404, `task ${r.params.id} not found`);
  });
}
