import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { z } from "zod";
import { badRequest, DockerApiError, intParam, muxFrame, type Router } from "@berth/docker-api";
import { recordAudit, type AgentStream } from "@berth/core";
import { actorOf, type Context } from "../context.ts";
import { hostFor } from "../routers/host-access.ts";
import type { FleetRequest } from "./context.ts";
import { locate } from "./containers.ts";

/*
 * `docker exec` through the fleet endpoint: the exec is made here (an ID, the command, the
 * container's host), and its start upgrades the connection and bridges it to the host's exec
 * stream, the one the dashboard's terminal uses: input goes to the process, output comes back as
 * Docker's raw (TTY) or multiplexed frames, with credit returned as the client drains it. Exec
 * needs the operator role on the host, as the terminal does, and is audited.
 */

interface FleetExec {
  id: string;
  hostId: string;
  containerId: string;
  cmd: string[];
  env: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  running: boolean;
  exitCode: number | null;
  stream: AgentStream<"exec"> | null;
  at: number;
}

/** Execs made here: bounded, and forgotten 10 minutes after they were made. */
const execs = new Map<string, FleetExec>();
const MAX_EXECS = 1000;
const EXEC_TTL_MS = 10 * 60_000;
const WINDOW = 8;

function remember(e: FleetExec): void {
  const now = Date.now();
  for (const [k, v] of execs) if (execs.size >= MAX_EXECS || (!v.running && now - v.at > EXEC_TTL_MS)) execs.delete(k);
  execs.set(e.id, e);
}

function execOf(id: string): FleetExec {
  const e = execs.get(id);
  if (!e) throw new DockerApiError(404, `No such exec instance: ${id}`);
  return e;
}

const ExecCreateBody = z.object({
  Cmd: z.array(z.string().max(4096)).min(1, "Cmd is required").max(64),
  Tty: z.boolean().optional(),
  AttachStdin: z.boolean().optional(),
  AttachStdout: z.boolean().optional(),
  AttachStderr: z.boolean().optional(),
  Env: z.array(z.string().max(32_768)).max(256).nullish(),
  User: z.string().optional(),
  WorkingDir: z.string().optional(),
  Privileged: z.boolean().optional(),
  DetachKeys: z.string().optional(),
  ConsoleSize: z.array(z.number().int()).nullish(),
});

export function execRoutes(router: Router<FleetRequest>): void {
  router.post("/containers/{id*}/exec", async (r) => {
    const c = await locate(r, r.params.id!);
    await hostFor(r.ctx, c.hostId, "operator");
    const body = await r.body(ExecCreateBody);
    if (body.Privileged) throw badRequest("exec --privileged through the fleet endpoint is not supported: use the host's agent");
    const info = (await r.api.containers.inspect({ hostId: c.hostId, id: c.ref })) as { Id: string; State?: { Running?: boolean } };
    if (!info.State?.Running) throw new DockerApiError(409, `Container ${info.Id} is not running`);
    const id = randomBytes(32).toString("hex");
    remember({
      id,
      hostId: c.hostId,
      containerId: info.Id,
      cmd: body.Cmd,
      env: body.Env ?? [],
      ...(body.User ? { user: body.User } : {}),
      ...(body.WorkingDir ? { workdir: body.WorkingDir } : {}),
      tty: Boolean(body.Tty),
      running: false,
      exitCode: null,
      stream: null,
      at: Date.now(),
    });
    r.json(201, { Id: id });
  });

  router.get("/exec/{id}/json", async (r) => {
    const e = execOf(r.params.id!);
    await hostFor(r.ctx, e.hostId, "viewer");
    r.json(200, {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode ?? 0,
      ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: false },
      OpenStdin: true,
      OpenStderr: true,
      OpenStdout: true,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: "",
      Pid: 0,
    });
  });

  router.post("/exec/{id}/resize", async (r) => {
    const e = execOf(r.params.id!);
    await hostFor(r.ctx, e.hostId, "operator");
    const rows = intParam(r.query, "h", 24, 1, 1000);
    const cols = intParam(r.query, "w", 80, 1, 1000);
    e.stream?.input({ resize: { cols, rows } });
    r.res.writeHead(200).end();
  });

  router.post("/exec/{id}/start", () => {
    throw badRequest("exec start needs the connection upgraded (Upgrade: tcp), as the docker CLI asks for it");
  });
}

/** Reads `length` body bytes of an upgraded request: those that came with its head, then the socket's. */
function readUpgradeBody(socket: Duplex, head: Buffer, length: number): Promise<{ body: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = head;
    const gone = () => reject(new DockerApiError(400, "the connection closed before the exec start body"));
    const done = () => {
      socket.off("data", more);
      socket.off("error", reject);
      socket.off("close", gone);
      resolve({ body: buf.subarray(0, length), rest: buf.subarray(length) });
    };
    const more = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= length) done();
    };
    if (buf.length >= length) return done();
    socket.on("data", more);
    socket.once("error", reject);
    socket.once("close", gone);
  });
}

const ExecStartBody = z.object({
  Detach: z.boolean().optional(),
  Tty: z.boolean().optional(),
  ConsoleSize: z.array(z.number().int()).nullish(),
});

/**
 * POST /exec/{id}/start with `Upgrade: tcp`: answers 101 and bridges the connection to the host's
 * exec stream until the process exits or the client goes.
 */
export async function startExecUpgrade(ctx: Context, req: IncomingMessage, socket: Duplex, head: Buffer, execId: string): Promise<void> {
  // The CLI closes its sending side when stdin ends (at once without -i); output still flows back.
  (socket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
  const e = execOf(execId);
  await hostFor(ctx, e.hostId, "operator");
  if (e.running || e.exitCode !== null) throw new DockerApiError(409, `exec ${execId} has already run`);
  const length = Number(req.headers["content-length"] ?? 0);
  if (!Number.isSafeInteger(length) || length < 0 || length > 64 * 1024) throw badRequest("invalid exec start body");
  const { body, rest } = await readUpgradeBody(socket, head, length);
  const start = ExecStartBody.parse(body.length ? JSON.parse(body.toString("utf8")) : {});
  if (start.Detach) throw badRequest("detached exec through the fleet endpoint is not supported yet");
  const [rows, cols] = start.ConsoleSize?.length === 2 ? start.ConsoleSize : [24, 80];
  void recordAudit(ctx.db, {
    ...actorOf(ctx),
    action: "containers.exec",
    target: `${e.hostId}/${e.containerId}`,
    result: "ok",
    detail: { cmd: e.cmd },
    sourceIp: ctx.sourceIp,
    channel: ctx.channel,
  }).catch((err: unknown) => ctx.logger.error({ err }, "audit write failed"));
  socket.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${e.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream"}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
  e.running = true;
  const stream = ctx.gateway.openStream(
    e.hostId,
    "exec",
    {
      id: e.containerId,
      cmd: e.cmd,
      tty: e.tty,
      cols: Math.max(1, Math.min(1000, cols!)),
      rows: Math.max(1, Math.min(1000, rows!)),
      ...(e.env.length ? { env: e.env } : {}),
      ...(e.user ? { user: e.user } : {}),
      ...(e.workdir ? { workdir: e.workdir } : {}),
    },
    WINDOW,
    {
      data: (d) => {
        let ok = true;
        if (d.o) ok = socket.write(e.tty ? Buffer.from(d.o) : muxFrame("stdout", Buffer.from(d.o))) && ok;
        if (d.e) ok = socket.write(e.tty ? Buffer.from(d.e) : muxFrame("stderr", Buffer.from(d.e))) && ok;
        if (d.exit !== undefined) e.exitCode = d.exit;
        if (ok) stream.grant(1);
        else socket.once("drain", () => stream.grant(1));
      },
      end: (error) => {
        // A stream that failed on the host says why on the client's stderr.
        if (error) socket.write(e.tty ? Buffer.from(`${error.message}\r\n`) : muxFrame("stderr", Buffer.from(`${error.message}\n`)));
        e.running = false;
        e.stream = null;
        e.at = Date.now();
        if (e.exitCode === null) e.exitCode = 126;
        socket.end();
      },
    },
  );
  e.stream = stream;
  const decoder = new StringDecoder("utf8");
  const input = (d: Buffer) => {
    const data = decoder.write(d);
    if (data) stream.input({ data });
  };
  if (rest.length) input(rest);
  socket.on("data", input);
  socket.on("end", () => stream.input({ eof: true }));
  socket.on("close", () => {
    if (e.running) stream.close();
  });
  socket.on("error", () => undefined);
}
