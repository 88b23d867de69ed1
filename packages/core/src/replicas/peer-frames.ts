import { z } from "zod";
import { CommandArgs, type CommandName, STREAM_KINDS, StreamArgs, type StreamKind } from "@berth/protocol";

/*
 * Frames between control-plane processes on their internal channel: one process (the
 * forwarder) sends a command or opens a stream for a host whose agent is linked to the other (the
 * owner), which runs it on its own link and sends back the reply, progress, and stream data. The
 * stream frames are the agent protocol's own (credit, input, close, data, end), so flow control
 * holds end to end: the owner lets the agent send only what the forwarder granted.
 */

/** Where the internal channel is served. */
export const PEER_PATH = "/internal/peer";
/** The header a process presents: `Replica <id>:<secret>`. */
export const PEER_AUTH_SCHEME = "Replica";
/** Forwarded replies wrap an agent frame (at most 1 MiB) in a little JSON. */
export const PEER_MAX_FRAME_BYTES = 4 * 1024 * 1024;

const Id = z.string().min(1).max(64);
const HostId = z.string().min(1).max(64);
const ErrorBody = z.object({ code: z.string().max(64), message: z.string().max(8192) });

export const PeerRequestSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("command"),
    id: Id,
    hostId: HostId,
    command: z.custom<CommandName>((c) => typeof c === "string" && Object.hasOwn(CommandArgs, c), "unknown command"),
    args: z.unknown(),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(24 * 3600_000),
    progress: z.boolean().default(false),
  }),
  z.object({
    type: z.literal("stream.open"),
    id: Id,
    hostId: HostId,
    kind: z.enum(STREAM_KINDS),
    args: z.unknown(),
    credit: z.number().int().min(0).max(10_000),
  }),
  z.object({ type: z.literal("stream.credit"), id: Id, n: z.number().int().min(1).max(10_000) }),
  z.object({
    type: z.literal("stream.input"),
    id: Id,
    data: z
      .string()
      .max(1024 * 1024)
      .optional(),
    resize: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).optional(),
    eof: z.literal(true).optional(),
  }),
  z.object({ type: z.literal("stream.close"), id: Id }),
]);
export type PeerRequest = z.infer<typeof PeerRequestSchema>;

export const PeerAnswerSchema = z.discriminatedUnion("type", [
  /** ok: the agent's result; else the error, in the domain's codes. */
  z.object({ type: z.literal("reply"), id: Id, ok: z.boolean(), result: z.unknown().optional(), error: ErrorBody.optional() }),
  z.object({ type: z.literal("progress"), id: Id, data: z.unknown() }),
  z.object({ type: z.literal("stream.data"), id: Id, data: z.unknown() }),
  z.object({ type: z.literal("stream.end"), id: Id, error: ErrorBody.optional() }),
]);
export type PeerAnswer = z.infer<typeof PeerAnswerSchema>;

/** A command's arguments, checked against the protocol's schema (the owner sends only what it checked). */
export function commandArgsOf(command: CommandName, args: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  const r = (CommandArgs[command] as z.ZodType).safeParse(args);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: r.error.message.slice(0, 2000) };
}

/** A stream's arguments, checked against the protocol's schema for its kind. */
export function streamArgsOf(kind: StreamKind, args: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  const r = (StreamArgs[kind] as z.ZodType).safeParse(args);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: r.error.message.slice(0, 2000) };
}
