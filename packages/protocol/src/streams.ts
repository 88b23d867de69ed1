import { z } from "zod";
import { checkEntry, type Checked, type Sendable } from "./checked.ts";
import type { StreamKind } from "./frames.ts";
import { ContainerStatsSchema, HostEventSchema } from "./replies.ts";

/**
 * Arguments and data of the stream channels (frames in frames.ts). The control plane checks
 * arguments with these before opening a stream; the agent checks them again before reading.
 * Each data frame the agent sends is checked by the control plane against its kind's schema.
 */

const Name = z.string().min(1).max(512);

/** The secrets of one build, together: they travel in its open frame (1 MiB). */
export const MAX_BUILD_SECRET_BYTES = 500 * 1024;

function encodedSize(record: Record<string, string>): number {
  let n = 0;
  for (const v of Object.values(record)) n += v.length;
  return n;
}

/** A log line's position: `<unix ns>-<n>` (the agent's logs/k8s-file.ts explains it). */
export const LogCursorSchema = z.string().regex(/^\d{1,25}-\d{1,9}$/, "a log cursor looks like <unix-ns>-<n>");

export const StreamArgs = {
  logs: z.object({
    id: Name,
    /** Last N lines before following; ignored when resuming with `after`. */
    tail: z.number().int().min(0).max(1_000_000).optional(),
    /** Unix seconds. */
    since: z.number().min(0).optional(),
    /** Resume: only lines after this cursor. */
    after: LogCursorSchema.optional(),
    stdout: z.boolean().default(true),
    stderr: z.boolean().default(true),
    follow: z.boolean().default(true),
  }),
  stats: z.object({ id: Name }),
  exec: z.object({
    id: Name,
    cmd: z.array(z.string().max(4096)).min(1).max(64),
    tty: z.boolean().default(true),
    cols: z.number().int().min(1).max(1000).default(80),
    rows: z.number().int().min(1).max(1000).default(24),
    /** Added to the container's environment (KEY=value), as `docker exec --env`. */
    env: z
      .array(
        z
          .string()
          .max(32_768)
          .regex(/^[^=\0]+(=[^\0]*)?$/, "env entries are KEY=value"),
      )
      .max(256)
      .optional(),
    /** user[:group] in the container (`--user`), and the working directory (`--workdir`, absolute). */
    user: z.string().max(256).optional(),
    workdir: z.string().max(4096).optional(),
  }),
  /**
   * The host's events. With `after`, the agent first sends what it still holds unacknowledged past
   * that sequence number (in `stream`: the numbering's id; another numbering is replayed whole),
   * then events as they happen.
   */
  events: z
    .object({
      after: z.number().int().nonnegative().optional(),
      stream: z.string().min(1).max(64).optional(),
    })
    .default({}),
  /** A container's own stdio (`docker attach`, `docker run` without -d): output from now on, input if asked. */
  attach: z.object({
    id: Name,
    stdin: z.boolean().default(false),
    stdout: z.boolean().default(true),
    stderr: z.boolean().default(true),
  }),
  /** Docker's wait conditions: the stream says when it waits, then how the container ended. */
  wait: z.object({ id: Name, condition: z.enum(["not-running", "next-exit", "removed"]).default("not-running") }),
  /**
   * A Dockerfile build. The context follows as input: a tar (gzip allowed) in base64 pieces, then
   * eof. The agent acknowledges what it has taken (`ack`), and the sender keeps at most
   * BUILD_CONTEXT_WINDOW bytes unacknowledged.
   */
  build: z
    .object({
      dockerfile: z.string().min(1).max(4096).default("Dockerfile"),
      tags: z.array(z.string().min(1).max(512)).max(32).default([]),
      buildArgs: z.record(z.string().min(1).max(256), z.string().max(65_536)).default({}),
      labels: z.record(z.string().min(1).max(256), z.string().max(65_536)).default({}),
      target: z.string().min(1).max(256).optional(),
      noCache: z.boolean().default(false),
      pull: z.boolean().default(false),
      network: z.enum(["default", "none", "host"]).default("default"),
      /** RUN --mount=type=secret values by id, base64; they stay in the agent's memory and the build's tmpfs. */
      secrets: z
        .record(
          z.string().min(1).max(256),
          z
            .string()
            .max(Math.ceil(MAX_BUILD_SECRET_BYTES / 3) * 4)
            .base64(),
        )
        .default({}),
    })
    .refine((a) => encodedSize(a.secrets) <= Math.ceil(MAX_BUILD_SECRET_BYTES / 3) * 4 + 4096, "a build's secrets total at most 500 KiB"),
} as const satisfies Record<StreamKind, z.ZodType>;

/** Context bytes a build's sender may have unacknowledged. */
export const BUILD_CONTEXT_WINDOW = 4 * 1024 * 1024;
/** Context bytes in one input frame (64 KiB once base64). */
export const BUILD_CONTEXT_CHUNK = 48 * 1024;

/** A stream's arguments as a caller passes them (defaults may be left out). */
export type StreamArgsOf<K extends StreamKind> = z.input<(typeof StreamArgs)[K]>;

/** One log line in a stream: [cursor, stream (o = stdout, e = stderr), conmon's timestamp, the text with its newline]. */
export const LogStreamLineSchema = z.tuple([z.string(), z.enum(["o", "e"]), z.string(), z.string()]);
export type LogStreamLine = z.output<typeof LogStreamLineSchema>;

/** The data frames of each stream kind (StreamDataFrame.data). */
export const StreamData = {
  /** Lines in order, as many as fit a frame. */
  logs: z.object({ lines: z.array(LogStreamLineSchema) }),
  /** One Docker stats sample a second. */
  stats: ContainerStatsSchema,
  /** Terminal output (o; e is stderr without a TTY), and last the exit code. */
  exec: z.object({ o: z.string().optional(), e: z.string().optional(), exit: z.number().int().optional() }),
  /** Events as they happened; `dropped` counts those lost while the reader was behind. */
  events: z.object({
    events: z.array(HostEventSchema),
    /** Events lost before this frame: the reader fell behind, or the agent's bounded store dropped its oldest. */
    dropped: z.number().int().positive().optional(),
    /** The id of the agent's event numbering (it changes only when the agent's state is new). */
    stream: z.string().min(1).max(64).optional(),
  }),
  /**
   * First `attached` (the output is taken from then on, so a start after it loses nothing), then
   * the output as base64 bytes (a container's output need not be text): `o` stdout, `e` stderr.
   */
  attach: z.object({
    attached: z.literal(true).optional(),
    o: z
      .string()
      .max(96 * 1024)
      .base64()
      .optional(),
    e: z
      .string()
      .max(96 * 1024)
      .base64()
      .optional(),
  }),
  /** First `waiting` (a start after it is seen), then the result once. */
  wait: z.object({
    waiting: z.literal(true).optional(),
    StatusCode: z.number().int().optional(),
    Error: z.string().max(4096).optional(),
  }),
  /** Context bytes taken so far (`ack`), the classic builder's output text, and last the image's ID (`aux`). */
  build: z.object({
    ack: z.number().int().nonnegative().optional(),
    stream: z
      .string()
      .max(192 * 1024)
      .optional(),
    aux: z
      .string()
      .regex(/^sha256:[a-f0-9]{64}$/)
      .optional(),
  }),
} as const satisfies Record<StreamKind, z.ZodType>;

/** One data frame of a `K` stream, as the control plane hands it on once checked. */
export type StreamDataOf<K extends StreamKind> = z.output<(typeof StreamData)[K]>;
/** What an agent's `K` source sends. */
export type StreamDataInput<K extends StreamKind> = Sendable<z.input<(typeof StreamData)[K]>>;
export type LogStreamData = StreamDataOf<"logs">;

/** Checks one data frame of a `kind` stream. Never throws. */
export function parseStreamData<K extends StreamKind>(kind: K, data: unknown): Checked<StreamDataOf<K>> {
  return checkEntry(StreamData, kind, data);
}
/** Lines longer than this (bytes of encoded JSON) are cut in a stream frame, with a note saying how much. */
export const LOG_STREAM_MAX_LINE = 64 * 1024;
