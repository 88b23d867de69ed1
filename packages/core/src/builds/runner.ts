// Runs builds on hosts: records each one (Postgres `build`), makes its context, streams it to the
// host's agent with a bounded window, keeps the log in pieces a reader can resume from, pushes the
// result when asked, and says how it ended. Builds run on the process that took them; their
// history and logs are in Postgres, so any process shows them.
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { BUILD_CONTEXT_CHUNK, BUILD_CONTEXT_WINDOW } from "@berth/protocol";
import type { Db } from "@berth/db";
import type { AgentGateway, AgentStream } from "../agent-gateway.ts";
import { DomainError, isDomainError, notFound } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { registryAccessFor } from "../registries.ts";
import type { SecretBox } from "../secret-box.ts";
import { prepareContext, type PreparedContext } from "./context-source.ts";
import { BuildRequestSchema, MAX_BUILD_LOG_BYTES, type BuildRequest, type BuildRequestInput, type BuildStatus } from "./schema.ts";

/** How a build ended. */
export interface BuildOutcome {
  status: BuildStatus;
  imageId: string | null;
  error: string | null;
}

/** Pieces of log are written this often, or sooner when this many bytes wait. */
const LOG_FLUSH_MS = 200;
const LOG_PIECE_BYTES = 32 * 1024;
/** Credit for the agent's build frames (output and acknowledgements). */
const STREAM_CREDIT = 16;
const PUSH_TIMEOUT_MS = 10 * 60_000;

export interface BuildRunnerOptions {
  db: Db;
  gateway: AgentGateway;
  /** Opens registry passwords (pushes). */
  registryBox: SecretBox;
  /** Seals and opens git passwords. */
  gitBox: SecretBox;
  /** The team's secrets by name, base64 (a build's secret mounts). */
  secretValues?: (teamId: string, names: readonly string[]) => Promise<Record<string, string>>;
  logger: Logger;
}

/** Where a streamed context came from, for the build's record: the docker CLI, a stack's files, or a stack's git commit. */
export interface BuildOrigin {
  kind: "docker" | "stack" | "git";
  git?: { url: string; ref: string; path: string; commit: string };
}

export interface Actor {
  userId: string | null;
  name: string;
}

/** A build's log as it is written: appended pieces in order. */
class BuildLog {
  private pending = "";
  private seq = 0;
  private bytes = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly buildId: string,
    private readonly onPiece: (seq: number) => void,
  ) {}

  append(text: string): void {
    const room = MAX_BUILD_LOG_BYTES - this.bytes - Buffer.byteLength(this.pending);
    if (room <= 0) {
      this.dropped += Buffer.byteLength(text);
      return;
    }
    if (Buffer.byteLength(text) > room) {
      this.dropped += Buffer.byteLength(text) - room;
      text = Buffer.from(text).subarray(0, room).toString("utf8");
    }
    this.pending += text;
    if (Buffer.byteLength(this.pending) >= LOG_PIECE_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), LOG_FLUSH_MS);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const text = this.pending;
    this.pending = "";
    if (text) {
      const seq = ++this.seq;
      this.bytes += Buffer.byteLength(text);
      const bytes = this.bytes;
      const dropped = this.dropped;
      this.writing = this.writing.then(async () => {
        await this.db.$transaction([
          this.db.buildLogChunk.create({ data: { buildId: this.buildId, seq, text } }),
          this.db.build.update({ where: { id: this.buildId }, data: { logBytes: bytes, logDropped: dropped } }),
        ]);
        this.onPiece(seq);
      });
    }
    return this.writing;
  }
}

export class BuildRunner extends EventEmitter<{ piece: [buildId: string, seq: number]; ended: [buildId: string, status: BuildStatus] }> {
  private readonly running = new Map<string, { stream: AgentStream<"build"> | null; cancelled: boolean }>();

  constructor(private readonly o: BuildRunnerOptions) {
    super();
    this.setMaxListeners(0);
  }

  /** Records a build and starts it; resolves once it is recorded (the build goes on). */
  async start(teamId: string, hostName: string, raw: BuildRequestInput, actor: Actor): Promise<{ id: string }> {
    const req = BuildRequestSchema.parse(raw);
    const src = req.source;
    const gitFields =
      src.kind === "git"
        ? {
            gitUrl: src.url,
            gitRef: src.ref,
            gitPath: src.path,
            ...(src.username ? { gitUsername: src.username } : {}),
            ...(src.password ? { gitPasswordSealed: this.o.gitBox.seal(src.password) } : {}),
          }
        : {};
    const { id } = await this.begin(teamId, hostName, req, actor, src.kind, gitFields, async (password) => {
      if (src.kind === "git") return prepareContext(src, password);
      return prepareContext(src);
    });
    return { id };
  }

  /**
   * A build whose context is a tar stream already (`docker build` through the fleet endpoint),
   * its output told to `onOutput` as it comes. `done` says how it ended.
   */
  async startFromStream(
    teamId: string,
    hostName: string,
    raw: Omit<BuildRequestInput, "source">,
    tar: Readable,
    actor: Actor,
    onOutput: (text: string) => void,
    origin: BuildOrigin = { kind: "docker" },
  ): Promise<{ id: string; done: Promise<BuildOutcome> }> {
    const req = BuildRequestSchema.parse({ ...raw, source: { kind: "archive", data: "" } });
    const gitFields: Record<string, string> = origin.git
      ? { gitUrl: origin.git.url, gitRef: origin.git.ref, gitPath: origin.git.path }
      : {};
    const commit = origin.git?.commit;
    return this.begin(
      teamId,
      hostName,
      req,
      actor,
      origin.kind,
      gitFields,
      async () => ({ tar, ...(commit ? { commit } : {}), cleanup: async () => undefined }),
      onOutput,
    );
  }

  private async begin(
    teamId: string,
    hostName: string,
    req: BuildRequest,
    actor: Actor,
    sourceKind: string,
    gitFields: Record<string, string>,
    prepare: (password: string | undefined) => Promise<PreparedContext>,
    onOutput?: (text: string) => void,
  ): Promise<{ id: string; done: Promise<BuildOutcome> }> {
    if (req.push && req.tags.length === 0) throw new DomainError("INVALID", "a build that pushes needs a tag (-t) to push");
    const build = await this.o.db.build.create({
      data: {
        teamId,
        hostId: req.hostId,
        hostName,
        createdById: actor.userId,
        createdByName: actor.name,
        sourceKind,
        ...gitFields,
        dockerfile: req.dockerfile,
        tags: req.tags,
        buildArgs: req.buildArgs,
        ...(req.target ? { target: req.target } : {}),
        noCache: req.noCache,
        push: req.push,
      },
    });
    this.running.set(build.id, { stream: null, cancelled: false });
    const done = this.run(build.id, teamId, req, prepare, onOutput);
    done.catch((err: unknown) => this.o.logger.error({ err, buildId: build.id }, "build runner failed"));
    return { id: build.id, done };
  }

  /** Stops a running build (its RUN containers are killed on the host). */
  async cancel(buildId: string): Promise<void> {
    const r = this.running.get(buildId);
    if (!r) {
      const b = await this.o.db.build.findUnique({ where: { id: buildId }, select: { status: true } });
      if (!b) throw notFound("build");
      if (b.status === "running" || b.status === "queued") {
        throw new DomainError("CONFLICT", "this build runs on another control-plane process, or that process is gone");
      }
      return;
    }
    r.cancelled = true;
    r.stream?.close();
  }

  isRunning(buildId: string): boolean {
    return this.running.has(buildId);
  }

  private async run(
    id: string,
    teamId: string,
    req: BuildRequest,
    prepare: (password: string | undefined) => Promise<PreparedContext>,
    onOutput?: (text: string) => void,
  ): Promise<BuildOutcome> {
    const db = this.o.db;
    const buildLog = new BuildLog(db, id, (seq) => this.emit("piece", id, seq));
    const log = {
      append: (text: string) => {
        buildLog.append(text);
        onOutput?.(text);
      },
      flush: () => buildLog.flush(),
    };
    const state = this.running.get(id)!;
    let status: BuildStatus = "failed";
    let error: string | null = null;
    let imageId: string | null = null;
    await db.build.update({ where: { id }, data: { status: "running", startedAt: new Date() } });
    try {
      const row = await db.build.findUniqueOrThrow({ where: { id }, select: { gitPasswordSealed: true } });
      const password = row.gitPasswordSealed ? this.o.gitBox.open(row.gitPasswordSealed) : undefined;
      const secrets = req.secrets.length ? await this.secretValues(teamId, req.secrets) : {};
      if (req.source.kind === "git") log.append(`Fetching ${req.source.url} at ${req.source.ref}\n`);
      const ctx = await prepare(password);
      if (ctx.commit) {
        log.append(`Commit ${ctx.commit}\n`);
        await db.build.update({ where: { id }, data: { gitCommit: ctx.commit } });
      }
      // Cancelled while its context was being made (a long git fetch): nothing reaches the host.
      if (state.cancelled) {
        await ctx.cleanup();
        throw new DomainError("CONFLICT", "cancelled");
      }
      try {
        imageId = await this.stream(req, secrets, ctx.tar, (t) => log.append(t), state);
      } finally {
        await ctx.cleanup();
      }
      if (req.push) {
        const name = req.tags[0]!;
        log.append(`Pushing ${name}\n`);
        const domain = pushDomain(name);
        const registry = await registryAccessFor(db, this.o.registryBox, teamId, domain);
        const pushed = (await this.o.gateway.command(req.hostId, "images.push", { name, registry }, { timeoutMs: PUSH_TIMEOUT_MS })) as {
          digest?: string;
        };
        log.append(`Pushed ${name}${pushed?.digest ? ` (${pushed.digest})` : ""}\n`);
      }
      status = "succeeded";
    } catch (e) {
      status = state.cancelled ? "cancelled" : "failed";
      error = state.cancelled ? "cancelled" : e instanceof Error ? e.message : String(e);
      log.append(`ERROR: ${error}\n`);
      if (!isDomainError(e) && !state.cancelled) this.o.logger.warn({ err: e, buildId: id }, "build failed");
    } finally {
      await log.flush().catch((err: unknown) => this.o.logger.error({ err, buildId: id }, "build log not written"));
      await db.build
        .update({ where: { id }, data: { status, error, imageId, finishedAt: new Date() } })
        .catch((err: unknown) => this.o.logger.error({ err, buildId: id }, "build result not written"));
      this.running.delete(id);
      this.emit("ended", id, status);
    }
    return { status, imageId, error };
  }

  /** The build on the agent: context in with a window of unacknowledged bytes, output out. Resolves with the image ID. */
  private async secretValues(teamId: string, names: readonly string[]): Promise<Record<string, string>> {
    if (!this.o.secretValues) throw new DomainError("UNAVAILABLE", "this control-plane process cannot read secrets");
    return this.o.secretValues(teamId, names);
  }

  private stream(
    req: BuildRequest,
    secrets: Record<string, string>,
    tar: NodeJS.ReadableStream,
    out: (text: string) => void,
    state: { stream: AgentStream<"build"> | null; cancelled: boolean },
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let acked = 0;
      let sent = 0;
      let wake: (() => void) | null = null;
      let image = "";
      let done = false;
      const finish = (e?: Error) => {
        if (done) return;
        done = true;
        wake?.();
        if (e) reject(e);
        else if (!image) reject(new DomainError("UPSTREAM", "the agent ended the build without an image"));
        else resolve(image);
      };
      const s = this.o.gateway.openStream(
        req.hostId,
        "build",
        {
          dockerfile: req.dockerfile,
          tags: req.tags,
          buildArgs: req.buildArgs,
          labels: req.labels,
          ...(req.target ? { target: req.target } : {}),
          noCache: req.noCache,
          pull: req.pull,
          secrets,
        },
        STREAM_CREDIT,
        {
          data: (d) => {
            if (d.ack !== undefined) {
              acked = Math.max(acked, d.ack);
              wake?.();
            }
            if (d.stream) out(d.stream);
            if (d.aux) image = d.aux;
            s.grant(1);
          },
          end: (e) => finish(e),
        },
      );
      state.stream = s;
      void (async () => {
        let pending: Buffer = Buffer.alloc(0);
        const send = async (chunk: Buffer) => {
          while (!done && sent - acked >= BUILD_CONTEXT_WINDOW) await new Promise<void>((r) => (wake = r));
          if (done) return;
          s.input({ data: chunk.toString("base64") });
          sent += chunk.length;
        };
        for await (const c of tar as AsyncIterable<Buffer>) {
          pending = pending.length ? Buffer.concat([pending, c]) : c;
          while (pending.length >= BUILD_CONTEXT_CHUNK) {
            await send(pending.subarray(0, BUILD_CONTEXT_CHUNK));
            pending = pending.subarray(BUILD_CONTEXT_CHUNK);
          }
          if (done) return;
        }
        if (pending.length) await send(pending);
        if (!done) s.input({ eof: true });
      })().catch((e: unknown) => {
        s.close();
        finish(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }
}

/** The registry domain of an image name, as Docker reads it (docker.io without one). */
function pushDomain(name: string): string {
  const first = name.split("/")[0]!;
  return name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
}
