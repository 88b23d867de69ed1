import type { WebSocket, RawData } from "ws";
import { z } from "zod";
import type { Prisma } from "@berth/db";
import { COMPOSE_NUMBER, COMPOSE_SERVICE, DomainError, isDomainError, type AgentStream, type Logger } from "@berth/core";
import { LogCursorSchema, type LogStreamLine } from "@berth/protocol";
import type { Context } from "./context.ts";
import { ClientMessage, safeJson } from "./stream-messages.ts";
import { projectContainers } from "./stacks/host-ops.ts";

/*
 * A service's logs as one live stream: every task's container log, across hosts, merged as the
 * lines come, each message tagged with its task (id, slot) and host. A stack's logs are the same
 * over all its services' tasks (a fleet stack) or all its containers (a single-host stack), each
 * message also tagged with its service. Underneath it is one agent
 * `logs` stream per task; the client acknowledges each message and the acknowledgement goes back
 * as credit to the task stream that sent it, so flow control holds end to end as for one
 * container. Tasks that start while following are picked up (the task list is read every
 * TASK_POLL_MS); a task's stream ends with its container. Resuming: `after` carries each task's
 * last cursor ("<taskId>:<cursor>,…"), and every stream restarts after its own.
 *
 * Server → client: {"t":"data","d":{"task":{"id","slot","host","hostId"},"lines":[…]}} and a last
 * {"t":"end"}; client → server: {"t":"ack","n":k}.
 */

export const SERVICE_LOGS_PATH = "/api/streams/service-logs";
const TASK_POLL_MS = 2_000;
/** Task streams open at once for one client (a service of thousands is followed by its newest). */
const MAX_TASK_STREAMS = 64;

const Bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const After = z
  .string()
  .max(64 * 1024)
  .transform((s, ctx) => {
    const out = new Map<string, string>();
    for (const part of s.split(",").filter(Boolean)) {
      const at = part.indexOf(":");
      const cursor = LogCursorSchema.safeParse(part.slice(at + 1));
      if (at <= 0 || !cursor.success) {
        ctx.addIssue({ code: "custom", message: "after is <taskId>:<cursor>, comma separated" });
        return z.NEVER;
      }
      out.set(part.slice(0, at), cursor.data);
    }
    return out;
  });

export const ServiceLogsQuery = z.object({
  /** One of these: a service's logs, or a stack's. */
  service: z.string().min(1).max(64).optional(),
  stack: z.string().min(1).max(64).optional(),
  follow: Bool.default(true),
  tail: z.coerce.number().int().min(0).max(100_000).optional(),
  after: After.optional(),
  window: z.coerce.number().int().min(1).max(64).default(16),
});
export type ServiceLogsRequest = z.output<typeof ServiceLogsQuery>;

/** One container whose log is part of the merged stream: a task's, or a single-host stack's container. */
interface LogTarget {
  /** The task's id, or the container's. */
  id: string;
  slot: number;
  hostId: string;
  host: string;
  containerId: string;
  service?: string;
}

interface TaskStream {
  stream: AgentStream<"logs">;
  /** Messages of this task the client has not acknowledged yet. */
  unacked: number;
}

/** One message of a service's merged logs: a task's lines, tagged with the task and its host. */
export interface ServiceLogMessage {
  task: { id: string; slot: number; host: string; hostId: string; service?: string };
  lines: LogStreamLine[];
}

export interface ServiceLogSink {
  data(msg: ServiceLogMessage): void;
  /** The logs are over (not following, every task's lines sent), or failed. */
  end(error?: { code: string; message: string }): void;
}

export interface ServiceLogFollow {
  /** The reader took `n` more messages: credit goes back to the task streams they came from. */
  ack(n: number): void;
  close(): void;
}

/**
 * The merged logs of a service's tasks, delivered to `sink` one message at a time; the transport
 * (a browser's WebSocket, the fleet Docker endpoint's response) acknowledges them as its reader
 * takes them, and only then do the task streams get more credit.
 */
export function followServiceLogs(ctx: Context, q: ServiceLogsRequest, sink: ServiceLogSink, log: Logger): ServiceLogFollow {
  const open = new Map<string, TaskStream>();
  /** Each task's last cursor sent: a task stream opened again (its host relinked) resumes after it. */
  const cursors = new Map<string, string>(q.after ?? []);
  /** Which task each unacknowledged message came from, oldest first. */
  const inFlight: string[] = [];
  let closed = false;
  let anyStarted = false;

  const finish = (error?: { code: string; message: string }) => {
    if (closed) return;
    closed = true;
    stop();
    sink.end(error);
  };
  const finishIfDone = () => {
    if (!q.follow && anyStarted && open.size === 0) finish();
  };

  const refresh = async () => {
    const tasks = await logTargets(ctx, q);
    for (const t of tasks) {
      if (closed || open.has(t.id) || open.size >= MAX_TASK_STREAMS) continue;
      const after = cursors.get(t.id);
      try {
        const stream = ctx.gateway.openStream(
          t.hostId,
          "logs",
          {
            id: t.containerId,
            follow: q.follow,
            stdout: true,
            stderr: true,
            ...(after ? { after } : q.tail !== undefined ? { tail: q.tail } : {}),
          },
          q.window,
          {
            data: (d) => {
              if (closed) return;
              const last = d.lines.at(-1);
              if (last) cursors.set(t.id, last[0]);
              inFlight.push(t.id);
              const own = open.get(t.id);
              if (own) own.unacked++;
              sink.data({
                task: { id: t.id, slot: t.slot, host: t.host, hostId: t.hostId, ...(t.service ? { service: t.service } : {}) },
                lines: d.lines,
              });
            },
            end: () => {
              open.delete(t.id);
              finishIfDone();
            },
          },
        );
        open.set(t.id, { stream, unacked: 0 });
        anyStarted = true;
      } catch (e) {
        // A host that is away: its task's lines come once it relinks and the next poll reopens it.
        if (!(isDomainError(e) && e.code === "HOST_OFFLINE")) throw e;
      }
    }
    if (!anyStarted && !q.follow) finish();
  };

  const poll = () =>
    void refresh().catch((err: unknown) => {
      log.error({ err }, "service logs: task list failed");
      finish({ code: "UNAVAILABLE", message: "could not read the service's tasks" });
    });
  const timer = q.follow ? setInterval(poll, TASK_POLL_MS) : null;
  timer?.unref();
  function stop() {
    if (timer) clearInterval(timer);
    for (const s of open.values()) s.stream.close();
    open.clear();
  }
  poll();

  return {
    ack(n) {
      // Credit goes back to the task stream each acknowledged message came from.
      for (let i = 0; i < n && inFlight.length; i++) {
        const taskId = inFlight.shift()!;
        const own = open.get(taskId);
        if (own && own.unacked > 0) {
          own.unacked--;
          own.stream.grant(1);
        }
      }
    },
    close() {
      if (closed) return;
      closed = true;
      stop();
    },
  };
}

/** The containers whose logs make up the stream: following, the ones that run; else every one with a container. */
async function logTargets(ctx: Context, q: ServiceLogsRequest): Promise<LogTarget[]> {
  const live = q.follow ? { desiredState: "running", state: { in: ["starting", "running"] } } : {};
  const ofTasks = async (where: Prisma.TaskWhereInput, tagService: boolean): Promise<LogTarget[]> => {
    const tasks = await ctx.db.task.findMany({
      // Following: the tasks that run; an ended one's lines were sent when its stream ended.
      where: { ...where, containerId: { not: null }, hostId: { not: null }, ...live },
      orderBy: { createdAt: "desc" },
      take: MAX_TASK_STREAMS,
      include: { host: { select: { name: true } }, service: { select: { name: true } } },
    });
    return tasks.map((t) => ({
      id: t.id,
      slot: t.slot,
      hostId: t.hostId!,
      host: t.host?.name ?? "",
      containerId: t.containerId!,
      ...(tagService ? { service: t.service.name } : {}),
    }));
  };
  if (q.service) return ofTasks({ serviceId: q.service }, false);
  const stack = await ctx.stacks.get(q.stack!);
  if (stack.target === "fleet") {
    const services = await ctx.stacks.services(stack.id);
    return ofTasks({ serviceId: { in: services.map((x) => x.id) } }, true);
  }
  // A single-host stack: its containers, found by compose's project label.
  if (!stack.hostId || !ctx.gateway.isConnected(stack.hostId)) return [];
  const host = await ctx.db.host.findUnique({ where: { id: stack.hostId }, select: { name: true } });
  const containers = await projectContainers(ctx.gateway, stack.hostId, stack.name, !q.follow);
  return containers.slice(0, MAX_TASK_STREAMS).map((c) => ({
    id: c.id,
    slot: Number(c.labels[COMPOSE_NUMBER] ?? 1) || 1,
    hostId: stack.hostId!,
    host: host?.name ?? "",
    containerId: c.id,
    service: c.labels[COMPOSE_SERVICE] ?? "",
  }));
}

/** A service's merged logs over a browser's WebSocket (see the protocol at the top). */
export function relayServiceLogs(ws: WebSocket, ctx: Context, q: ServiceLogsRequest, log: Logger): void {
  const send = (msg: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));
  const follow = followServiceLogs(
    ctx,
    q,
    {
      data: (d) => send({ t: "data", d }),
      end: (error) => {
        send({ t: "end", ...(error ? { error } : {}) });
        ws.close(error ? 1011 : 1000);
      },
    },
    log,
  );
  ws.on("message", (raw: RawData, isBinary: boolean) => {
    const msg = isBinary ? null : ClientMessage.safeParse(safeJson(raw.toString()));
    if (!msg?.success) return void ws.close(1008, "invalid message");
    if (msg.data.t !== "ack") return void ws.close(1008, "this stream takes no input");
    follow.ack(msg.data.n);
  });
  ws.on("close", () => follow.close());
  ws.on("error", () => undefined);
}

/** The service or stack a caller may read the logs of, or a refusal. */
export async function serviceForLogs(ctx: Context, q: Pick<ServiceLogsRequest, "service" | "stack">): Promise<void> {
  if ((q.service === undefined) === (q.stack === undefined)) throw new DomainError("INVALID", "give a service or a stack");
  const teamId = q.service
    ? (await ctx.db.service.findUnique({ where: { id: q.service }, select: { teamId: true } }))?.teamId
    : (await ctx.db.stack.findUnique({ where: { id: q.stack! }, select: { teamId: true } }))?.teamId;
  if (!teamId) throw new DomainError("NOT_FOUND", `${q.service ? "service" : "stack"} ${q.service ?? q.stack} not found`);
  if (!ctx.memberships.some((m) => m.teamId === teamId)) throw new DomainError("FORBIDDEN", "you have no role in its team");
}
