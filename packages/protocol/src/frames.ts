import { z } from "zod";
import { HostFactsSchema } from "./facts.ts";

/**
 * Agent ⇄ control-plane frames, protocol version 1. Every frame is JSON text in one
 * WebSocket message. Both sides parse with these schemas and drop the connection on
 * anything else.
 */
export const PROTOCOL_VERSION = 1;

/** Frames larger than this close the connection (the receiver's ws maxPayload). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Agents beat this often (the control plane says so in its welcome): a host is offline after a
 * few missed beats (BERTH_OFFLINE_AFTER_MS, 5 s), and its service tasks move then. Swarm's 5 s
 * beat took 11-17 s to call a node down.
 */
export const HEARTBEAT_INTERVAL_MS = 1_000;

const AgentVersion = z.string().min(1).max(64);
const RequestId = z.string().min(1).max(64);

export const HelloFrame = z.object({
  type: z.literal("hello"),
  v: z.literal(PROTOCOL_VERSION),
  agentVersion: AgentVersion,
  facts: HostFactsSchema,
});
export const HeartbeatFrame = z.object({
  type: z.literal("heartbeat"),
  /** Agent wall-clock time, for skew diagnostics only. */
  at: z.number().int().nonnegative(),
});
export const FactsFrame = z.object({ type: z.literal("facts"), facts: HostFactsSchema });
export const ReplyFrame = z.object({
  type: z.literal("reply"),
  id: RequestId,
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.object({ code: z.string().max(64), message: z.string().max(4096) }).optional(),
});

/** A request of the agent to the control plane (see overlay.ts's AgentRequestArgs); answered by an AnswerFrame. */
export const RequestFrame = z.object({
  type: z.literal("request"),
  id: RequestId,
  method: z.string().min(1).max(64),
  args: z.unknown(),
});

/** Progress of a command still running (a pull's per-layer bytes); same id as its command. */
export const ProgressFrame = z.object({ type: z.literal("progress"), id: RequestId, data: z.unknown() });

/*
 * Stream channels (logs, stats, exec, events, attach, wait). The control plane opens one with a credit: the
 * number of data frames the agent may send before it waits for more. The control plane grants
 * credit as its consumer (a browser) takes frames, so a slow reader slows the source instead of
 * growing a buffer anywhere on the way.
 */
const StreamId = RequestId;
export const STREAM_KINDS = ["logs", "stats", "exec", "events", "attach", "wait", "build"] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];
/** One unit of credit covers one data frame; the agent keeps frames under this size. */
export const STREAM_FRAME_BYTES = 256 * 1024;
const StreamError = z.object({ code: z.string().max(64), message: z.string().max(4096) });

export const StreamDataFrame = z.object({ type: z.literal("stream.data"), id: StreamId, data: z.unknown() });
/** The agent's end of a stream: the source finished, or failed with the error. */
export const StreamEndFrame = z.object({ type: z.literal("stream.end"), id: StreamId, error: StreamError.optional() });

/**
 * Resource counters of the host and its running containers, sent every second. Counters are
 * cumulative (CPU ns, bytes); the control plane turns consecutive reports into rates and keeps
 * an hour of history. A host with many containers splits a report over several frames.
 */
const Counter = z.number().nonnegative();
export const STATS_CONTAINERS_PER_FRAME = 2000;
export const StatsFrame = z.object({
  type: z.literal("stats"),
  /** Agent wall-clock ms when sampled. */
  at: z.number().int().nonnegative(),
  host: z.object({
    cpuBusy: Counter,
    cpuTotal: Counter,
    cpus: z.number().int().min(1).max(4096),
    memUsed: Counter,
    memTotal: Counter,
    /** Bytes through the host's interfaces (loopback and container veths left out) and its disks. */
    netRx: Counter.default(0),
    netTx: Counter.default(0),
    diskRead: Counter.default(0),
    diskWrite: Counter.default(0),
  }),
  /** [container id, cpu ns, memory used, memory limit (0: none), net rx, net tx, block read, block write] */
  containers: z
    .array(z.tuple([z.string().regex(/^[0-9a-f]{64}$/), Counter, Counter, Counter, Counter, Counter, Counter, Counter]))
    .max(STATS_CONTAINERS_PER_FRAME),
});
export type StatsReport = z.infer<typeof StatsFrame>;

/**
 * What a host holds, for the fleet-wide tables: all of one kind, replacing what the control
 * plane had. Large lists come in parts; the control plane swaps them in when `last` arrives.
 */
export const INVENTORY_KINDS = ["container", "image", "network", "volume"] as const;
export type InventoryKind = (typeof INVENTORY_KINDS)[number];
export const INVENTORY_ITEMS_PER_FRAME = 2000;
export const InventoryItemSchema = z.object({
  id: z.string().min(1).max(128),
  name: z.string().max(512),
  /** Containers: their image; images: their tags; networks: the driver; volumes: the driver. */
  image: z.string().max(1024).default(""),
  /** Containers: running, exited…; other kinds: empty. */
  state: z.string().max(32).default(""),
  /** Unix seconds. */
  created: z.number().int().nonnegative(),
  /** Images: bytes. */
  size: z.number().nonnegative().default(0),
});
export type InventoryItem = z.input<typeof InventoryItemSchema>;
export const InventoryFrame = z.object({
  type: z.literal("inventory"),
  kind: z.enum(INVENTORY_KINDS),
  part: z.number().int().min(0).max(1000),
  last: z.boolean(),
  items: z.array(InventoryItemSchema).max(INVENTORY_ITEMS_PER_FRAME),
});

export const AgentFrameSchema = z.discriminatedUnion("type", [
  HelloFrame,
  HeartbeatFrame,
  FactsFrame,
  ReplyFrame,
  ProgressFrame,
  StreamDataFrame,
  StreamEndFrame,
  StatsFrame,
  InventoryFrame,
  RequestFrame,
]);
export type AgentFrame = z.infer<typeof AgentFrameSchema>;

export const WelcomeFrame = z.object({
  type: z.literal("welcome"),
  v: z.literal(PROTOCOL_VERSION),
  hostId: z.string().min(1).max(64),
  heartbeatMs: z.number().int().positive(),
  /** The largest frame the control plane takes, in bytes of encoded JSON; the agent never sends a larger one. */
  maxFrameBytes: z.number().int().min(1024).optional(),
});
/** A command for the agent; it answers with a ReplyFrame carrying the same id. */
export const CommandFrame = z.object({
  type: z.literal("command"),
  id: RequestId,
  command: z.string().min(1).max(64),
  args: z.unknown(),
});

export const StreamOpenFrame = z.object({
  type: z.literal("stream.open"),
  id: StreamId,
  kind: z.enum(STREAM_KINDS),
  args: z.unknown(),
  credit: z.number().int().min(1).max(1024),
});
export const StreamCreditFrame = z.object({ type: z.literal("stream.credit"), id: StreamId, n: z.number().int().min(1).max(1024) });
/** Input for an exec or attach stream: keystrokes (UTF-8 text), a terminal resize, or the end of input; for a build, its context as base64. */
export const StreamInputFrame = z.object({
  type: z.literal("stream.input"),
  id: StreamId,
  data: z
    .string()
    .max(64 * 1024)
    .optional(),
  resize: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).optional(),
  /** The input is over (stdin closed), for commands that read to the end. */
  eof: z.literal(true).optional(),
});
export const StreamCloseFrame = z.object({ type: z.literal("stream.close"), id: StreamId });
/** The control plane's answer to an agent's RequestFrame. */
export const AnswerFrame = z.object({
  type: z.literal("answer"),
  id: RequestId,
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.object({ code: z.string().max(64), message: z.string().max(4096) }).optional(),
});

/** The control plane has kept the host's events up to `seq` of numbering `stream`: the agent may forget them. */
export const EventsAckFrame = z.object({
  type: z.literal("events.ack"),
  stream: z.string().min(1).max(64),
  seq: z.number().int().nonnegative(),
});

export const ServerFrameSchema = z.discriminatedUnion("type", [
  WelcomeFrame,
  EventsAckFrame,
  CommandFrame,
  StreamOpenFrame,
  StreamCreditFrame,
  StreamInputFrame,
  StreamCloseFrame,
  AnswerFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

/** A frame's size on the wire: bytes of its JSON in UTF-8 (limits count these, not characters). */
export function encodedBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** Bytes `text` takes inside a JSON string, quotes left out: escapes (\u0001) and UTF-8 counted. */
export function jsonStringBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text)) - 2;
}

/**
 * The longest start of `text` whose JSON-encoded form fits `maxBytes`, and how many characters
 * were left out. Never splits a surrogate pair.
 */
export function cutToJsonBytes(text: string, maxBytes: number): { text: string; cut: number } {
  if (text.length * 6 <= maxBytes || jsonStringBytes(text) <= maxBytes) return { text, cut: 0 };
  let bytes = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let n: number;
    let step = 1;
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09) n = 2;
    else if (c < 0x20) n = 6;
    else if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n = 4;
      step = 2;
    } else if (c >= 0xd800 && c <= 0xdfff)
      n = 6; // a lone surrogate is escaped
    else n = 3;
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += step - 1;
  }
  return { text: text.slice(0, i), cut: text.length - i };
}

export type FrameParseResult<T> = { ok: true; frame: T } | { ok: false; reason: string };

/** Parses one WebSocket message. Never throws: a bad frame is a reason string. */
export function parseFrame<T>(schema: z.ZodType<T>, raw: string): FrameParseResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: "frame is not valid JSON" };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    return { ok: false, reason: `invalid frame${where}: ${issue?.message ?? "unknown"}` };
  }
  return { ok: true, frame: parsed.data };
}

export const parseAgentFrame = (raw: string) => parseFrame(AgentFrameSchema, raw);
export const parseServerFrame = (raw: string) => parseFrame(ServerFrameSchema, raw);
