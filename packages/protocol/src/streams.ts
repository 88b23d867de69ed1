import { z } from "zod";

/**
 * Arguments and data of the stream channels (frames in frames.ts). The control plane checks
 * arguments with these before opening a stream; the agent checks them again before reading.
 */

const Name = z.string().min(1).max(512);

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
  }),
  events: z.object({}).default({}),
} as const;

/** One log line in a stream: cursor, stream (o = stdout, e = stderr), conmon's timestamp, the text with its newline. */
export type LogStreamLine = [cursor: string, stream: "o" | "e", time: string, text: string];
export interface LogStreamData {
  lines: LogStreamLine[];
}
/** Lines longer than this (bytes of encoded JSON) are cut in a stream frame, with a note saying how much. */
export const LOG_STREAM_MAX_LINE = 64 * 1024;
