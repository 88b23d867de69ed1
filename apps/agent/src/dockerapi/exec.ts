// Exec endpoints: create, start (hijacked stream), resize, inspect.
import { z } from "zod";
import { ExecConfigSchema } from "../containers/index.ts";
import { intParam } from "@berth/docker-api";
import { dockerJsonKeys } from "@berth/docker-api";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";
import { DetachWatcher, muxFrame, parseDetachKeys } from "@berth/docker-api";
import { streamContentType } from "@berth/docker-api";
import { atLeast } from "@berth/docker-api";

const ExecStartSchema = z.object({
  Detach: z.boolean().optional(),
  Tty: z.boolean().optional(),
  ConsoleSize: z.array(z.number().int().min(0).max(10_000)).length(2).nullable().optional(),
});

export function execRoutes(r: Router, o: DockerApiOptions): void {
  const execs = o.runtime.execs;

  r.post("/containers/{id}/exec", async (ctx) => {
    // The CLI also sends its terminal size and a Detach flag; start carries both again.
    // As dockerd: keys match case-insensitively (docker-py sends detachKeys), unknown ones (its
    // Container) are ignored, and null means unset.
    const schema = ExecConfigSchema.extend({
      ConsoleSize: z.array(z.number().int()).nullable().optional(),
      Detach: z.boolean().optional(),
    });
    const body = await ctx.body(z.preprocess((raw) => dockerJsonKeys(raw, Object.keys(schema.shape)), schema));
    const { ConsoleSize: _size, Detach: _detach, ...config } = body;
    ctx.json(201, execs.create(ctx.params.id!, config));
  });

  r.get("/exec/{id}/json", (ctx) => ctx.json(200, execs.inspect(ctx.params.id!)));

  r.post("/exec/{id}/resize", (ctx) => {
    execs.resize(ctx.params.id!, intParam(ctx.query, "h", 0, 0, 10_000), intParam(ctx.query, "w", 0, 0, 10_000));
    ctx.empty(200);
  });

  r.post("/exec/{id}/start", async (ctx) => {
    const opts = await ctx.body(ExecStartSchema);
    const info = execs.inspect(ctx.params.id!) as { ProcessConfig: { tty: boolean }; OpenStdin: boolean; DetachKeys?: string };
    // As dockerd: the start body's Tty decides the framing (stdcopy frames unless it is true),
    // whatever the exec was created with; docker-py sends tty=False to a TTY exec and reads frames.
    // ConsoleSize is honoured from 1.42, for a TTY asked for at both steps.
    const tty = info.ProcessConfig.tty;
    const raw = opts.Tty === true;
    const size = atLeast(ctx.version, "1.42") && raw && tty ? opts.ConsoleSize : null;
    const session = await execs.start(ctx.params.id!);
    // A process that fails after it started is recorded on the exec (exit code 126, for inspect);
    // nobody else waits for it, and an unhandled rejection would take the agent down.
    const exited = session.exit.catch(() => undefined);
    if (size && size[0]! > 0) session.resize(size[0]!, size[1]!);
    if (opts.Detach) {
      session.stdin?.end();
      session.stdout.resume();
      session.stderr?.resume();
      ctx.empty(200);
      return;
    }
    const conn = ctx.hijack(streamContentType(raw, ctx.version));
    conn.on("error", () => undefined);
    let open = tty ? 1 : 2;
    const finish = () => {
      if (--open === 0) void exited.finally(() => conn.end());
    };
    const forward = (stream: "stdout" | "stderr", src: NodeJS.ReadableStream) => {
      src.on("data", (d: Buffer) => {
        if (!conn.write(raw ? d : muxFrame(stream, d))) {
          src.pause();
          conn.once("drain", () => src.resume());
        }
      });
      src.once("end", finish);
    };
    forward("stdout", session.stdout);
    if (session.stderr) forward("stderr", session.stderr);
    else if (!tty) finish();
    const stdin = session.stdin;
    if (stdin) {
      const watcher = new DetachWatcher(parseDetachKeys(info.DetachKeys));
      stdin.on("error", () => undefined);
      conn.on("data", (chunk: Buffer) => {
        const { pass, detach } = watcher.feed(chunk);
        if (pass.length) stdin.write(pass);
        if (detach) conn.end();
      });
      conn.once("end", () => stdin.end());
    } else conn.resume();
    // A client that goes away leaves the process running, as with dockerd.
    conn.once("close", () => {
      session.stdout.resume();
      session.stderr?.resume();
    });
  });
}
