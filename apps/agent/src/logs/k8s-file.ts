import { createReadStream, existsSync, statSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { open, type FileHandle } from "node:fs/promises";
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
  /** Where the line is in the log (see "Cursors" below); resume after it with `after`. */
  cursor: string;
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
  /** Only lines after this cursor (a reader resuming where it stopped). */
  after?: string;
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
  /** The cursor clock: the time of the last whole line, as ns text, and how many lines had it. */
  private cursorTime = "";
  private cursorNs = "";
  private cursorN = -1;
  private cursorFor(time: string): string {
    if (time !== this.cursorTime) {
      this.cursorTime = time;
      this.cursorNs = logTimeNanos(time).toString();
      this.cursorN = -1;
    }
    return `${this.cursorNs}-${++this.cursorN}`;
  }
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
    return { time, stream, line: `${soFar}\n`, cursor: this.cursorFor(time) };
  }
  /** Lines the writer never finished (the container's last output had no newline). */
  flush(): LogEntry[] {
    const out = [...this.partial].map(([stream, line]) => ({ time: this.lastTime, stream: stream as LogEntry["stream"], line, cursor: this.cursorFor(this.lastTime) }));
    this.partial.clear();
    return out;
  }
}

/** The log's files, oldest first: `<log>.N` … `<log>.1`, then the live `<log>`. */
export function logFiles(path: string, maxFiles = 100): string[] {
  const files: string[] = [];
  for (let i = maxFiles; i >= 1; i--) if (existsSync(`${path}.${i}`)) files.push(`${path}.${i}`);
  if (existsSync(path)) files.push(path);
  return files;
}

async function* recordsOf(file: string): AsyncGenerator<string> {
  let rest = "";
  let stream;
  try {
    stream = createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 });
    for await (const chunk of stream) {
      const lines = (rest + (chunk as string)).split("\n");
      rest = lines.pop() ?? "";
      yield* lines;
    }
  } catch (e) {
    // A rotated file that was dropped (max-file) while it was being listed has nothing left to give.
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (rest) yield rest;
}

/** An open log file read from `offset` on; the handle keeps the file readable after conmon replaces it. */
interface OpenLog {
  fh: FileHandle;
  ino: number;
  offset: number;
  rest: string;
  decoder: StringDecoder;
}

async function openLog(path: string): Promise<OpenLog | null> {
  try {
    const fh = await open(path, "r");
    return { fh, ino: (await fh.stat()).ino, offset: 0, rest: "", decoder: new StringDecoder("utf8") };
  } catch {
    return null;
  }
}

/** The complete records appended since the last read (up to `end`); an incomplete last record waits in `rest`. */
async function readRecords(log: OpenLog, end = Number.POSITIVE_INFINITY): Promise<string[]> {
  const records: string[] = [];
  const buf = Buffer.allocUnsafe(1 << 20);
  while (log.offset < end) {
    const { bytesRead } = await log.fh.read(buf, 0, Math.min(buf.length, end - log.offset), log.offset);
    if (bytesRead === 0) break;
    log.offset += bytesRead;
    const lines = (log.rest + log.decoder.write(buf.subarray(0, bytesRead))).split("\n");
    log.rest = lines.pop() ?? "";
    records.push(...lines);
    if (records.length >= 10_000) break;
  }
  return records;
}

/** Files rotated after the one with inode `ino`, oldest first (a slow reader may have missed whole files). */
function rotatedAfter(path: string, ino: number): string[] {
  const rotated = logFiles(path).filter((f) => f !== path);
  const at = rotated.findIndex((f) => inodeOf(f) === ino);
  return at < 0 ? [] : rotated.slice(at + 1);
}

function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}

/** The container's log lines, oldest first, filtered as Docker's `logs` does. */
export async function* readLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  for await (const batch of readLogBatches(path, opts)) yield* batch;
}

/** Lines per batch from history; a follow batch is whatever one read of the file gave. */
const HISTORY_BATCH = 1000;

/**
 * readLogs in batches, for streams that send many lines per frame. Every line carries its
 * cursor, so a reader that resumes with `after` gets exactly the lines it has not seen.
 */
export async function* readLogBatches(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry[]> {
  // Cursors only grow, so once one line is past `after` every later one is: stop comparing.
  let after = opts.after !== undefined ? parseLogCursor(opts.after) : null;
  const want = (e: LogEntry) => {
    if (after) {
      if (!cursorAfter(e.cursor, after)) return false;
      after = null;
    }
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
  const emit = (records: string[]): LogEntry[] => {
    const out: LogEntry[] = [];
    for (const rec of records) {
      const e = assembler.push(rec);
      if (e && want(e)) out.push(e);
    }
    return out;
  };
  // The live file is opened first, so a rotation while the older files are read is noticed.
  let live = await openLog(path);
  const changes = opts.follow ? new FileChanges(path) : null;
  try {
    const end = live ? (await live.fh.stat()).size : 0;
    const history = async function* () {
      for (const file of logFiles(path)) {
        if (file === path) continue;
        if (live && inodeOf(file) === live.ino) continue;
        // A resumed reader skips whole files that end before its cursor.
        if (after && tail === undefined && (await lastRecordBefore(file, after.ns))) continue;
        yield* recordsOf(file);
      }
      if (live) while (live.offset < end) {
        const recs = await readRecords(live, end);
        if (recs.length === 0 && live.offset < end) break;
        yield* recs;
      }
    };
    let batch: LogEntry[] = [];
    for await (const rec of history()) {
      const e = assembler.push(rec);
      if (!e || !want(e)) continue;
      if (tail === undefined) {
        batch.push(e);
        if (batch.length >= HISTORY_BATCH) {
          yield batch;
          batch = [];
        }
      } else if (tail > 0) {
        ring.push(e);
        if (ring.length > tail) ring.shift();
      }
    }
    if (batch.length) yield batch;
    for (let i = 0; i < ring.length; i += HISTORY_BATCH) yield ring.slice(i, i + HISTORY_BATCH);
    if (!opts.follow) {
      const rest = assembler.flush().filter(want);
      if (rest.length) yield rest;
      return;
    }

    // Follow: read what is appended; when conmon starts a new file, finish the old one (and any
    // file rotated after it) before reading the new one, so nothing is skipped or repeated.
    for (;;) {
      if (opts.signal?.aborted) return;
      if (!live) live = await openLog(path);
      if (live) {
        const recs = await readRecords(live);
        if (recs.length) {
          const out = emit(recs);
          if (out.length) yield out;
          continue;
        }
        const ino = inodeOf(path);
        if (ino !== 0 && ino !== live.ino) {
          const out = emit(await readRecords(live));
          if (live.rest) out.push(...emit([live.rest]));
          await live.fh.close();
          for (const file of rotatedAfter(path, live.ino)) for await (const rec of recordsOf(file)) out.push(...emit([rec]));
          if (out.length) yield out;
          live = await openLog(path);
          continue;
        }
      }
      if (opts.finished?.()) {
        const out: LogEntry[] = [];
        if (live) {
          // Everything left in the open file (a reader far behind has more than one read's worth),
          // then what was rotated after it: at exit the keeper may rotate or drop the live name,
          // so the path can be gone or newer than the open file.
          for (let recs = await readRecords(live); recs.length; recs = await readRecords(live)) out.push(...emit(recs));
          const now = inodeOf(path);
          if (now !== live.ino) {
            if (live.rest) out.push(...emit([live.rest]));
            live.rest = "";
            // A file no longer kept at all (dropped beyond max-file) came before every kept one.
            const kept = logFiles(path).filter((f) => f !== path);
            const at = kept.findIndex((f) => inodeOf(f) === live!.ino);
            const rotated = at < 0 ? kept : kept.slice(at + 1);
            for (const file of rotated) for await (const rec of recordsOf(file)) out.push(...emit([rec]));
            // The live name, unless it is one of those files under a second name (a rotation half done).
            if (now !== 0 && !rotated.some((f) => inodeOf(f) === now)) for await (const rec of recordsOf(path)) out.push(...emit([rec]));
          }
        }
        out.push(...assembler.flush().filter(want));
        if (out.length) yield out;
        return;
      }
      if (!(await changes!.wait(100, opts.signal))) return;
    }
  } finally {
    changes?.close();
    await live?.fh.close().catch(() => undefined);
  }
}

/**
 * Wakes a follower when conmon writes to the log's directory, so a line reaches the reader in
 * about a millisecond rather than at the next poll; the poll stays as the fallback.
 */
class FileChanges {
  private changed = false;
  private wake: (() => void) | null = null;
  private readonly watcher: FSWatcher | null;

  constructor(path: string) {
    const name = basename(path);
    let w: FSWatcher | null = null;
    try {
      w = watch(dirname(path), (_event, file) => {
        if (file !== null && !file.startsWith(name)) return;
        this.changed = true;
        this.wake?.();
      });
      w.on("error", () => undefined);
    } catch {
      w = null; // no inotify: polling alone
    }
    this.watcher = w;
  }

  /** Resolves true after a change or `ms`, false once `signal` aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return false;
    if (!this.changed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.wake = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
        this.wake = done;
      });
    }
    this.changed = false;
    return !signal?.aborted;
  }

  close(): void {
    this.watcher?.close();
  }
}

/*
 * Cursors. conmon stamps every record with a nanosecond wall-clock time, and the lines of one
 * read share it; a line's cursor is that time plus its index among the lines stamped alike:
 * `<unix ns>-<n>`, ordered like Redis stream ids. It needs no state beside the log itself, so it
 * survives agent restarts and rotation. (A wall clock stepped backwards would break the order.)
 */
export interface LogCursor {
  ns: bigint;
  n: number;
}

export class LogCursorError extends Error {}

export function parseLogCursor(text: string): LogCursor {
  const m = /^(\d{1,25})-(\d{1,9})$/.exec(text);
  if (!m) throw new LogCursorError(`invalid log cursor '${text.slice(0, 64)}': expected <unix-ns>-<n>`);
  return { ns: BigInt(m[1]!), n: Number(m[2]) };
}

function cursorAfter(cursor: string, after: LogCursor): boolean {
  const c = parseLogCursor(cursor);
  return c.ns > after.ns || (c.ns === after.ns && c.n > after.n);
}

/** Nanoseconds since the epoch of a conmon timestamp, exactly. */
export function logTimeNanos(time: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  if (!m) return 0n;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return 0n;
  return BigInt(ms) * 1_000_000n + BigInt(((m[2] ?? "") + "000000000").slice(0, 9));
}

/** True when a rotated file's last record is stamped before `ns` (it holds nothing after a cursor at ns). */
async function lastRecordBefore(file: string, ns: bigint): Promise<boolean> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, "r");
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString("utf8").split("\n").filter(Boolean);
    const last = lines[lines.length - 1];
    if (!last) return false;
    return logTimeNanos(last.slice(0, last.indexOf(" "))) < ns;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
