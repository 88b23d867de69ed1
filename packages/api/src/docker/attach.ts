import type { Duplex } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { boolParam, DockerApiError, intParam, muxFrame, type Router } from "@berth/docker-api";
import { recordAudit } from "@berth/core";
import { actorOf, type Context } from "../context.ts";
import { hostFor } from "../routers/host-access.ts";
import { type FleetRequest, relayToResponse } from "./context.ts";
import { locate } from "./containers.ts";

/*
 * What `docker run` without -d, `docker attach`, `docker wait` and `docker stats` need through the
 * fleet endpoint: attach and wait are agent streams that first say they are armed (so the CLI's
 * start, which follows our answer, loses no output and no exit), then carry the output or the exit.
 * Credit goes back to the agent as the client drains its connection.
 */

const WINDOW = 8;

/** Whether a container has a TTY (its output is then raw, not multiplexed). */
async function hasTty(api: FleetRequest["api"], hostId: string, id: string): Promise<{ id: string; tty: boolean }> {
  const info = (await api.containers.inspect({ hostId, id })) as { Id: string; Config?: { Tty?: boolean } };
  return { id: info.Id, tty: Boolean(info.Config?.Tty) };
}

export function attachRoutes(router: Router<FleetRequest>): void {
  router.post("/containers/{id*}/wait", async (r) => {
    const c = await locate(r, r.params.id!);
    await hostFor(r.ctx, c.hostId, "viewer");
    const condition = r.query.get("condition") || "not-running";
    if (condition !== "not-running" && condition !== "next-exit" && condition !== "removed")
      throw new DockerApiError(400, `invalid condition: "${condition}"`);
    await new Promise<void>((resolve, reject) => {
      let answered = false;
      const stream = r.ctx.gateway.openStream(c.hostId, "wait", { id: c.ref, condition }, 2, {
        data: (d) => {
          if (d.waiting) {
            // Headers once the wait is armed: the CLI starts the container only after them.
            r.res.writeHead(200, { "Content-Type": "application/json" });
            r.res.flushHeaders();
            stream.grant(1);
            return;
          }
          answered = true;
          r.res.end(`${JSON.stringify({ StatusCode: d.StatusCode ?? -1, ...(d.Error ? { Error: { Message: d.Error } } : {}) })}\n`);
          resolve();
        },
        end: (error) => {
          if (answered) return;
          if (!r.res.headersSent) return reject(error ?? new DockerApiError(500, "the wait ended without a result"));
          r.res.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: error?.message ?? "the wait ended without a result" } })}\n`);
          resolve();
        },
      });
      r.res.on("close", () => {
        stream.close();
        resolve();
      });
    });
  });

  router.post("/containers/{id*}/resize", async (r) => {
    const c = await locate(r, r.params.id!);
    await hostFor(r.ctx, c.hostId, "operator");
    const h = intParam(r.query, "h", 0, 0, 10_000);
    const w = intParam(r.query, "w", 0, 0, 10_000);
    await r.ctx.gateway.command(c.hostId, "containers.resize", { id: c.ref, h, w });
    r.res.writeHead(200).end();
  });

  router.get("/containers/{id*}/stats", async (r) => {
    const c = await locate(r, r.params.id!);
    // Docker streams by default; stream=0 (and one-shot) answer one sample.
    const streaming = r.query.get("stream") === null ? true : boolParam(r.query, "stream");
    // Fleet-wide, a container's name says its host (as in inspect).
    const named = (d: { name?: string }) => ({ ...d, name: `/${c.hostName}${d.name ?? ""}` });
    if (!streaming) return r.json(200, named(await r.api.containers.stats({ hostId: c.hostId, id: c.ref })));
    await hostFor(r.ctx, c.hostId, "viewer");
    await relayToResponse(r, { hostId: c.hostId, kind: "stats", args: { id: c.ref }, window: WINDOW }, "application/json", (d) => [
      Buffer.from(`${JSON.stringify(named(d))}\n`),
    ]);
  });
}

/**
 * POST /containers/{id}/attach with `Upgrade: tcp`: answers 101 once the host has taken the
 * container's output, then bridges the connection to it (and stdin, if asked) until the container
 * stops or the client goes. The operator role on the host, as for exec; audited.
 */
export async function startAttachUpgrade(
  ctx: Context,
  api: FleetRequest["api"],
  socket: Duplex,
  ref: string,
  query: URLSearchParams,
): Promise<void> {
  (socket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
  const c = await locate({ api }, ref);
  await hostFor(ctx, c.hostId, "operator");
  const { id, tty } = await hasTty(api, c.hostId, c.ref);
  const stdin = boolParam(query, "stdin");
  const args = { id, stdin, stdout: boolParam(query, "stdout"), stderr: boolParam(query, "stderr") };
  if (!boolParam(query, "stream"))
    throw new DockerApiError(400, "attach through the fleet endpoint streams (stream=1); read past output with docker logs");
  await new Promise<void>((resolve, reject) => {
    let upgraded = false;
    const stream = ctx.gateway.openStream(c.hostId, "attach", args, WINDOW, {
      data: (d) => {
        if (d.attached) {
          void recordAudit(ctx.db, {
            ...actorOf(ctx),
            action: "containers.attach",
            target: `${c.hostId}/${id}`,
            result: "ok",
            sourceIp: ctx.sourceIp,
            channel: ctx.channel,
          }).catch((err: unknown) => ctx.logger.error({ err }, "audit write failed"));
          socket.write(
            `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream"}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
          );
          upgraded = true;
          resolve();
          stream.grant(1);
          return;
        }
        let ok = true;
        for (const [stream, data] of [
          ["stdout", d.o],
          ["stderr", d.e],
        ] as const) {
          if (!data) continue;
          const bytes = Buffer.from(data, "base64");
          ok = socket.write(tty ? bytes : muxFrame(stream, bytes)) && ok;
        }
        if (ok) stream.grant(1);
        else socket.once("drain", () => stream.grant(1));
      },
      end: (error) => {
        if (!upgraded) return reject(error ?? new DockerApiError(500, "the attach ended before it began"));
        socket.end();
      },
    });
    const decoder = new StringDecoder("utf8");
    socket.on("data", (d: Buffer) => {
      const data = decoder.write(d);
      if (data && stdin) stream.input({ data });
    });
    socket.on("end", () => {
      if (stdin) stream.input({ eof: true });
    });
    socket.on("close", () => {
      stream.close();
      // Gone before the host attached: nothing more to answer.
      if (!upgraded) resolve();
    });
    socket.on("error", () => undefined);
  });
}
