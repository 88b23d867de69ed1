import { z } from "zod";

/** What a stream's client may send: acknowledgements, and for exec its input. */
export const ClientMessage = z.discriminatedUnion("t", [
  z.object({ t: z.literal("ack"), n: z.number().int().min(1).max(1024) }),
  z.object({ t: z.literal("input"), data: z.string().max(64 * 1024) }),
  z.object({ t: z.literal("resize"), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
  z.object({ t: z.literal("eof") }),
]);

/** A client's text as JSON, or null when it is not JSON (then it fails the message schema). */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
