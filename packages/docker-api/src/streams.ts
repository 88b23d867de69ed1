// Docker's stream framings: the multiplexed stdout/stderr frames of logs, attach and exec
// without a TTY, and detach keys on attached stdin.
import { badRequest } from "./errors.ts";

export const RAW_STREAM = "application/vnd.docker.raw-stream";
export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";

const STREAM_ID = { stdin: 0, stdout: 1, stderr: 2 } as const;

/** One frame: [stream, 0, 0, 0, size (big-endian u32)] then the payload. */
export function muxFrame(stream: "stdout" | "stderr" | "stdin", data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = STREAM_ID[stream];
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/** Docker's detach keys (`ctrl-p,ctrl-q` by default) as the bytes a terminal sends. */
export function parseDetachKeys(spec: string | null | undefined): Buffer {
  const s = spec?.trim() || "ctrl-p,ctrl-q";
  const bytes: number[] = [];
  for (const key of s.split(",")) {
    const k = key.trim();
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (ctrl) bytes.push(ctrl[1]!.toUpperCase().charCodeAt(0) & 0x1f);
    else if (k.length === 1) bytes.push(k.charCodeAt(0));
    else throw badRequest(`Invalid detach keys (${s}) provided`);
  }
  return Buffer.from(bytes);
}

/**
 * Watches stdin for the detach sequence. Bytes that might start it are held back until the
 * sequence completes (detach) or breaks (they are passed on), as dockerd does.
 */
export class DetachWatcher {
  private held: number[] = [];
  constructor(private readonly keys: Buffer) {}

  /** The bytes to pass to the container, and whether the client detached. */
  feed(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held.length]) {
        this.held.push(b);
        if (this.held.length === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      out.push(...this.held);
      this.held = [];
      if (b === this.keys[0]) this.held.push(b);
      else out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
