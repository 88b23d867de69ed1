// The agent's stream sources for the control plane: logs, stats, exec, events, attach, wait and build, each checked
// with its schema from @berth/protocol and fed through a credit-limited channel (link/stream-channel.ts).
// What each source sends is typed by its kind's data schema (StreamData), checked at compile time.
import { lstatSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Transform } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import {
  cutToJsonBytes,
  encodedBytes,
  jsonStringBytes,
  LOG_STREAM_MAX_LINE,
  parseEntry,
  STREAM_FRAME_BYTES,
  StreamArgs,
  type LogStreamLine,
  type StreamDataInput,
  type StreamKind,
} from "@berth/protocol";
import { ZodError, type z } from "zod";
import type { StreamChannel, StreamHandler } from "./link/index.ts";
import type { AgentEvent } from "./containers/index.ts";
import type { AttachFrame } from "./runtime/index.ts";
import type { AgentRuntime } from "./runtime.ts";
import { AgentError } from "./errors.ts";
import { receiveContext } from "./build/index.ts";

/*
 * Every frame is sized by its encoded JSON, not by characters: a control character is six bytes
 * there (\u0001) and a CJK one three, so a limit in characters lets a frame outgrow the link's.
 */
const LOG_FRAME_LINES = 4000;
const EVENTS_PER_FRAME = 500;
/** Exec output per frame, in bytes of encoded JSON. */
const EXEC_FRAME_BYTES = 64 * 1024;
/** Attach output per frame, in bytes before base64 (64 KiB after it). */
const ATTACH_FRAME_BYTES = 48 * 1024;

function parse<K extends StreamKind>(kind: K, raw: unknown): z.output<(typeof StreamArgs)[K]> {
  try {
    return parseEntry(StreamArgs, kind, raw);
  } catch (e) {
    if (e instanceof ZodError)
      throw new AgentError(
        `invalid ${kind} stream arguments: ${e.issues.map((i) => `${i.path.join(".") || "args"}: ${i.message}`).join("; ")}`,
        "INVALID",
      );
    throw e;
  }
}

/** A source's channel, taking only its kind's data. */
type Channel<K extends StreamKind> = StreamChannel<StreamDataInput<K>>;

/** Log lines in frames of many lines; a frame waits for credit, and meanwhile the file is not read. */
async function logs(rt: AgentRuntime, raw: unknown, ch: Channel<"logs">): Promise<void> {
  const a = parse("logs", raw);
  const batches = rt.containers.logBatches(a.id, {
    stdout: a.stdout,
    stderr: a.stderr,
    follow: a.follow,
    signal: ch.signal,
    ...(a.after !== undefined ? { after: a.after } : a.tail !== undefined ? { tail: a.tail } : {}),
    ...(a.since !== undefined ? { since: a.since } : {}),
  });
  let lines: LogStreamLine[] = [];
  let bytes = 0;
  const flush = async () => {
    if (lines.length === 0) return true;
    const sent = await ch.send({ lines });
    lines = [];
    bytes = 0;
    return sent;
  };
  for await (const batch of batches) {
    for (const e of batch) {
      const { text, size } = logText(e.line);
      // Cursor, stream, time, quotes and commas: well under 96 bytes.
      const cost = size + 96;
      if (bytes + cost > STREAM_FRAME_BYTES && !(await flush())) return;
      lines.push([e.cursor, e.stream === "stdout" ? "o" : "e", e.time, text]);
      bytes += cost;
      if (lines.length >= LOG_FRAME_LINES && !(await flush())) return;
    }
    if (!(await flush())) return;
  }
}

/** A log line as a stream carries it, cut to LOG_STREAM_MAX_LINE bytes of JSON with a note (the file keeps it whole). */
export function logText(line: string): { text: string; size: number } {
  const size = jsonStringBytes(line);
  if (size <= LOG_STREAM_MAX_LINE) return { text: line, size };
  const kept = cutToJsonBytes(line, LOG_STREAM_MAX_LINE - 96);
  const text = `${kept.text}… [${kept.cut} more characters not shown]\n`;
  return { text, size: jsonStringBytes(text) };
}

/** One Docker-shaped sample a second; a sample that finds no credit is replaced by the next (stats are a gauge). */
async function stats(rt: AgentRuntime, raw: unknown, ch: Channel<"stats">): Promise<void> {
  const a = parse("stats", raw);
  for await (const s of rt.containers.statsStream(a.id, { signal: ch.signal })) if (!(await ch.send(s))) return;
}

/**
 * A terminal in a running container: exec with a TTY, keystrokes in, output out (as text;
 * xterm takes UTF-8). A command whose program is not in the container falls back to /bin/sh.
 */
async function exec(rt: AgentRuntime, raw: unknown, ch: Channel<"exec">): Promise<void> {
  const a = parse("exec", raw);
  const rec = rt.containers.get(a.id);
  let cmd = a.cmd;
  if (cmd.length === 1 && cmd[0]!.startsWith("/") && !existsIn(rt.containers.rootfs(rec.id), cmd[0]!)) cmd = ["/bin/sh"];
  const { Id } = rt.execs.create(rec.id, {
    Cmd: cmd,
    Tty: a.tty,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Env: [...(a.tty ? ["TERM=xterm-256color"] : []), ...(a.env ?? [])],
    ...(a.user ? { User: a.user } : {}),
    ...(a.workdir ? { WorkingDir: a.workdir } : {}),
  });
  const session = await rt.execs.start(Id);
  if (a.tty) session.resize(a.rows, a.cols);
  ch.onInput((input) => {
    if (input.data !== undefined) session.stdin?.write(input.data);
    if (input.resize) session.resize(input.resize.rows, input.resize.cols);
    if (input.eof) session.stdin?.end();
  });
  ch.signal.addEventListener("abort", () => session.kill(), { once: true });
  if (cmd !== a.cmd) await ch.send({ o: `${a.cmd[0]} is not in this container; using /bin/sh\r\n` });
  // Without a TTY, stderr comes as `e` beside stdout's `o`.
  const pump = async (stream: NodeJS.ReadableStream | null, key: "o" | "e") => {
    if (!stream) return;
    const decoder = new StringDecoder("utf8");
    // The source is paused while a frame waits for credit: the process blocks on its output.
    for await (const chunk of stream) {
      if (!(await sendText(decoder.write(chunk as Buffer), (part) => ch.send(key === "o" ? { o: part } : { e: part })))) return;
    }
  };
  await Promise.all([pump(session.stdout, "o"), pump(session.stderr, "e")]);
  const code = await session.exit.catch(() => 126);
  await ch.send({ exit: code });
}

/** Sends text in pieces of at most EXEC_FRAME_BYTES of JSON; false once the channel is closed. */
async function sendText(text: string, send: (piece: string) => Promise<boolean>): Promise<boolean> {
  let rest = text;
  while (rest) {
    const piece = cutToJsonBytes(rest, EXEC_FRAME_BYTES);
    const part = piece.text || rest.slice(0, 1);
    if (!(await send(part))) return false;
    rest = rest.slice(part.length);
  }
  return true;
}

/**
 * A container's own stdio, as `docker attach` has it: `attached` once the output is taken (a start
 * after that loses nothing), then its output as bytes while it runs; input goes to its stdin.
 */
async function attach(rt: AgentRuntime, raw: unknown, ch: Channel<"attach">): Promise<void> {
  const a = parse("attach", raw);
  const id = rt.containers.get(a.id).id;
  const session = await rt.containers.attach(id, { stdin: a.stdin, stdout: a.stdout, stderr: a.stderr });
  ch.signal.addEventListener("abort", () => session.detach(), { once: true });
  ch.onInput((input) => {
    if (input.data !== undefined) session.stdin?.write(input.data);
    if (input.resize) rt.containers.resize(id, input.resize.rows, input.resize.cols);
    if (input.eof) session.stdin?.end();
  });
  try {
    if (!(await ch.send({ attached: true }))) return;
    // Frames wait for credit one at a time, and meanwhile the container's output is not read.
    for await (const f of session.output as AsyncIterable<AttachFrame>) {
      for (let at = 0; at < f.data.length; at += ATTACH_FRAME_BYTES) {
        const part = f.data.subarray(at, at + ATTACH_FRAME_BYTES).toString("base64");
        if (!(await ch.send(f.stream === "stdout" ? { o: part } : { e: part }))) return;
      }
    }
  } finally {
    session.detach();
  }
}

/** Docker's wait: `waiting` once the condition is armed, then the exit code (and the error, if any). */
async function wait(rt: AgentRuntime, raw: unknown, ch: Channel<"wait">): Promise<void> {
  const a = parse("wait", raw);
  const id = rt.containers.get(a.id).id;
  const result = rt.containers.wait(id, a.condition, ch.signal);
  // A reader gone before the result aborts the wait: its rejection is expected, not an error.
  result.catch(() => undefined);
  if (!(await ch.send({ waiting: true }))) return;
  const r = await result;
  await ch.send({ StatusCode: r.StatusCode, ...(r.Error ? { Error: r.Error.Message } : {}) });
}

function existsIn(rootfs: string, path: string): boolean {
  try {
    lstatSync(join(rootfs, path));
    return true;
  } catch {
    return false;
  }
}

/** The host's events as they happen, each frame a batch of whatever arrived while the last one waited. */
async function events(rt: AgentRuntime, raw: unknown, ch: Channel<"events">): Promise<void> {
  const args = parse("events", raw);
  const queue: AgentEvent[] = [];
  let dropped = 0;
  let wake: (() => void) | null = null;
  // With `after` (the control plane's own follower), events come from the outbox, which has each
  // one before any reader hears it live: first what is kept past `after`, then live; a reader
  // that falls behind reads the outbox again instead of losing events.
  const durable = args.after !== undefined;
  let lastQueued = 0;
  let behind = durable;
  let from: { after: number; stream: string | undefined } | null = durable ? { after: args.after!, stream: args.stream } : null;
  const unsubscribe = rt.events.subscribe((e) => {
    if (e.seq <= lastQueued) return;
    if (behind || queue.length >= 10_000) {
      // Events are few; a reader that stops taking them still must not hold the agent's memory.
      if (durable) behind = true;
      else dropped++;
    } else {
      queue.push(e);
      lastQueued = e.seq;
    }
    wake?.();
  });
  ch.signal.addEventListener("abort", () => wake?.(), { once: true });
  try {
    while (!ch.signal.aborted) {
      if (queue.length === 0 && behind) {
        const kept = from ? rt.outbox.since(from.after, from.stream) : rt.outbox.since(lastQueued, rt.outbox.id);
        from = null;
        for (const e of kept.events.slice(0, 10_000)) queue.push(e);
        lastQueued = queue.at(-1)?.seq ?? lastQueued;
        behind = kept.events.length > 10_000;
        dropped += kept.gap;
      }
      if (queue.length === 0 && dropped === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      if (queue.length === 0 && dropped === 0) continue;
      // A frame stays under its size, in encoded bytes, however many events waited for credit
      // (labels make an event anywhere from a hundred bytes to many kilobytes).
      const batch: AgentEvent[] = [];
      let bytes = 0;
      while (queue.length && batch.length < EVENTS_PER_FRAME) {
        const size = encodedBytes(queue[0]);
        if (batch.length > 0 && bytes + size > STREAM_FRAME_BYTES) break;
        batch.push(queue.shift()!);
        bytes += size;
      }
      const lost = dropped;
      dropped = 0;
      if (!(await ch.send({ events: batch, ...(lost ? { dropped: lost } : {}), ...(durable ? { stream: rt.outbox.id } : {}) }))) return;
    }
  } finally {
    unsubscribe();
  }
}

/** Build output held while the control plane is behind; past it the middle is left out, with a note. */
const BUILD_OUTPUT_HELD = 4 << 20;
/** Build output per frame, in characters (well under the frame's byte limit). */
const BUILD_FRAME_CHARS = 64 * 1024;
/** Context bytes between acknowledgements. */
const BUILD_ACK_EVERY = 1 << 20;

/**
 * A Dockerfile build for the control plane: the context arrives as base64 input and is
 * acknowledged as it is taken, the classic builder's output goes back as text, and last the image
 * ID. A failed build ends the stream with its error.
 */
async function build(rt: AgentRuntime, raw: unknown, ch: Channel<"build">): Promise<void> {
  const a = parse("build", raw);
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  ch.onInput((input) => {
    if (input.data !== undefined) body.write(Buffer.from(input.data, "base64"));
    if (input.eof) body.end();
  });
  ch.signal.addEventListener("abort", () => body.destroy(new AgentError("the build was cancelled", "FAILED")), { once: true });
  // Acknowledges what the spool has taken, so the sender never has more than its window in flight.
  let taken = 0;
  let acked = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      taken += chunk.length;
      if (taken - acked < BUILD_ACK_EVERY) return cb(null, chunk);
      acked = taken;
      ch.send({ ack: taken }).then(() => cb(null, chunk), cb);
    },
    flush(cb) {
      ch.send({ ack: taken }).then(() => cb(), cb);
    },
  });
  body.on("error", (e) => meter.destroy(e));
  // Output is coalesced while the control plane is behind, and bounded.
  let held = "";
  let left = 0;
  let flushing: Promise<void> | null = null;
  const flush = async () => {
    while (held && !ch.signal.aborted) {
      const part = held.slice(0, BUILD_FRAME_CHARS);
      held = held.slice(part.length);
      if (!(await ch.send({ stream: part }))) return;
    }
  };
  const output = (text: string) => {
    held += text;
    if (held.length > BUILD_OUTPUT_HELD) {
      left += held.length - BUILD_OUTPUT_HELD / 2;
      held = `${held.slice(0, BUILD_OUTPUT_HELD / 4)}\n[… ${left} characters of output left out …]\n${held.slice(-BUILD_OUTPUT_HELD / 4)}`;
    }
    flushing ??= flush().finally(() => (flushing = null));
  };
  const dir = await rt.builder.contextDir();
  try {
    const context = await receiveContext(body.pipe(meter), dir, rt.buildContextLimit);
    let id = "";
    const drain = async () => {
      while (flushing) await flushing;
      await flush();
    };
    await rt.builder
      .build(
        context,
        {
          dockerfile: a.dockerfile,
          tags: a.tags,
          buildArgs: a.buildArgs,
          labels: a.labels,
          ...(a.target ? { target: a.target } : {}),
          noCache: a.noCache,
          pull: a.pull,
          network: a.network,
          secrets: new Map(Object.entries(a.secrets).map(([k, v]) => [k, Buffer.from(v, "base64")])),
          signal: ch.signal,
        },
        { stream: output, aux: (i) => (id = i) },
      )
      // What the build printed before it failed goes out before its error.
      .catch(async (e: unknown) => {
        await drain();
        throw e;
      });
    await drain();
    await ch.send({ aux: id });
  } finally {
    body.destroy();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export function agentStreams(rt: AgentRuntime): Record<StreamKind, StreamHandler> {
  return {
    logs: (a, ch) => logs(rt, a, ch),
    stats: (a, ch) => stats(rt, a, ch),
    exec: (a, ch) => exec(rt, a, ch),
    events: (a, ch) => events(rt, a, ch),
    attach: (a, ch) => attach(rt, a, ch),
    wait: (a, ch) => wait(rt, a, ch),
    build: (a, ch) => build(rt, a, ch),
  };
}
