import { createReadStream, existsSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { StringDecoder } from "node:string_decoder";

/*
 * Reads the container logs conmon writes in the CRI "k8s-file" format, one record per line:
 *   2026-11-28T12:25:53.666950981+00:00 stdout F hello
 * A long line is split into P (partial) records ended by an F record; readers join them.
 * Rotation keeps <log>.1 … <log>.N, oldest last.
 */

export interface LogEntry {
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string;
  stream: "stdout" | "stderr";
  /** The line's bytes, with its trailing newline (none on a final line without one). */
  line: string;
}

export interface ReadLogsOptions {
  stdout?: boolean;
  stderr?: boolean;
  /** Only the last N lines (before following). */
  tail?: number;
  /** Unix seconds (fractions allowed): only lines at or after / before this time. */
  since?: number;
  until?: number;
  follow?: boolean;
  /** Follow ends once this returns true and the file has no more data (the container stopped). */
  finished?: () => boolean;
  signal?: AbortSignal;
}

/** Seconds since the epoch of a conmon timestamp, with sub-millisecond precision kept as far as a double allows. */
export function logTimeSeconds(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$/.exec(time);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}${m[3]}`) / 1000 + Number(`0${m[2] ?? ""}`);
}

/** Joins P records to their F record; yields whole lines. */
class LineAssembler {
  private partial = new Map<string, string>();
  private lastTime = "";
  push(record: string): LogEntry | null {
    const a = record.indexOf(" ");
    const b = record.indexOf(" ", a + 1);
    const c = record.indexOf(" ", b + 1);
    if (a < 0 || b < 0) return null;
    const time = record.slice(0, a);
    const stream = record.slice(a + 1, b);
    if (stream !== "stdout" && stream !== "stderr") return null;
    const tag = c < 0 ? record.slice(b + 1) : record.slice(b + 1, c);
    const content = c < 0 ? "" : record.slice(c + 1);
    const soFar = (this.partial.get(stream) ?? "") + content;
    this.lastTime = time;
    if (tag.startsWith("P")) {
      this.partial.set(stream, soFar);
      return null;
    }
    this.partial.delete(stream);
    return { time, stream, line: `${soFar}\n` };
  }
  /** Lines the writer never finished (the container's last output had no newline). */
  flush(): LogEntry[] {
    const out = [...this.partial].map(([stream, line]) => ({ time: this.lastTime, stream: stream as LogEntry["stream"], line }));
    this.partial.clear();
    return out;
  }
}

export function logFiles(path: string, maxFiles = 100): string[] {
  const files: string[] = [];
  for (let i = maxFiles; i >= 1; i--) if (existsSync(`${path}.${i}`)) files.push(`${path}.${i}`);
  if (existsSync(path)) files.push(path);
  return files;
}

async function* recordsOf(file: string): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const text = rest + (chunk as string);
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  if (rest) yield rest;
}

/** The container's log lines, oldest first, filtered as Docker's `logs` does. */
export async function* readLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const want = (e: LogEntry) => {
    if (e.stream === "stdout" ? opts.stdout === false : opts.stderr === false) return false;
    if (opts.since === undefined && opts.until === undefined) return true;
    const t = logTimeSeconds(e.time);
    if (opts.since !== undefined && t < opts.since) return false;
    if (opts.until !== undefined && t > opts.until) return false;
    return true;
  };
  const assembler = new LineAssembler();
  const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
  const ring: LogEntry[] = [];
  // Where the current file has been read to, so following continues from there.
  let size = 0;
  let ino = 0;
  const upToLive = { unread: 0 };
  for (const file of logFiles(path)) {
    if (file === path) {
      const st = statSync(file);
      size = st.size;
      ino = st.ino;
    }
    // The live file is read up to its last complete record; following resumes right after it.
    for await (const rec of file === path ? recordsUpTo(file, size, upToLive) : recordsOf(file)) {
      const e = assembler.push(rec);
      if (!e || !want(e)) continue;
      if (tail === undefined) yield e;
      else if (tail > 0) {
        ring.push(e);
        if (ring.length > tail) ring.shift();
      }
    }
  }
  yield* ring;
  if (!opts.follow) {
    for (const e of assembler.flush()) if (want(e)) yield e;
    return;
  }
  size -= upToLive.unread;

  // Follow: read what is appended; a rotation (new inode) means the rest of the old file is in <log>.1.
  let rest = "";
  let decoder = new StringDecoder("utf8");
  for (;;) {
    if (opts.signal?.aborted) return;
    let st: { size: number; ino: number } | null = null;
    try {
      st = statSync(path);
    } catch {
      st = null;
    }
    if (st && st.ino !== ino && ino !== 0) {
      const rotated = `${path}.1`;
      if (existsSync(rotated) && statSync(rotated).ino === ino) {
        for await (const rec of recordsFrom(rotated, size)) {
          const e = assembler.push(rest + rec);
          rest = "";
          if (e && want(e)) yield e;
        }
      }
      size = 0;
      ino = st.ino;
      decoder = new StringDecoder("utf8");
    } else if (st && ino === 0) ino = st.ino;
    if (st && st.size > size) {
      const fh = await open(path, "r");
      try {
        const buf = Buffer.alloc(st.size - size);
        const { bytesRead } = await fh.read(buf, 0, buf.length, size);
        size += bytesRead;
        const lines = (rest + decoder.write(buf.subarray(0, bytesRead))).split("\n");
        rest = lines.pop() ?? "";
        for (const rec of lines) {
          const e = assembler.push(rec);
          if (e && want(e)) yield e;
        }
      } finally {
        await fh.close();
      }
      continue;
    }
    if (opts.finished?.()) {
      for (const e of assembler.flush()) if (want(e)) yield e;
      return;
    }
    try {
      await sleep(100, undefined, opts.signal ? { signal: opts.signal } : {});
    } catch {
      return;
    }
  }
}

/** Complete records of `file` up to byte `end`; a trailing incomplete record is left unread and its size reported. */
async function* recordsUpTo(file: string, end: number, out: { unread: number }): AsyncGenerator<string> {
  if (end === 0) return;
  let rest = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", end: end - 1, highWaterMark: 1 << 20 })) {
    const lines = (rest + (chunk as string)).split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  out.unread = Buffer.byteLength(rest);
}

async function* recordsFrom(file: string, start: number): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", start })) {
    const lines = (rest + (chunk as string)).split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  if (rest) yield rest;
}
