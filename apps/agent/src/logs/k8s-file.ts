import { readSync, readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { open, type FileHandle } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { AgentError } from "../errors.ts";

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

const NON_ASCII = /[\x80-\xff]/;

/** Whether latin1-held UTF-8 bytes stop inside a character (its lead byte is there, or earlier). */
function endsMidCharacter(bytes: string): boolean {
  for (let i = bytes.length - 1, seen = 1; i >= 0 && seen <= 4; i--, seen++) {
    const c = bytes.charCodeAt(i);
    if (c < 0x80) return false;
    if (c >= 0xc0) return seen < (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2);
  }
  return true;
}

/** Characters of partial records joined into one line at most (Docker's json-file splits at 16 KiB). */
export const MAX_JOINED_LINE = 256 * 1024;

/** Joins P records to their F record; yields whole lines, a very long one in pieces of MAX_JOINED_LINE. */
class LineAssembler {
  private partial = new Map<string, string>();
  /**
   * Records come in as latin1 text (one character per byte): conmon cuts a long line into records
   * at a byte count, often inside a UTF-8 character, so each stream's content is decoded as one
   * continuous UTF-8 byte stream here, never record by record.
   */
  private readonly decoders = new Map<string, StringDecoder>();
  private decode(stream: string, content: string): string {
    const d = this.decoders.get(stream);
    // ASCII with nothing pending decodes to itself: the common case costs one scan.
    if (!d && !NON_ASCII.test(content)) return content;
    const decoder = d ?? new StringDecoder("utf8");
    const text = decoder.write(Buffer.from(content, "latin1"));
    // Keep the decoder only while it may hold the first bytes of a character.
    if (endsMidCharacter(content)) this.decoders.set(stream, decoder);
    else this.decoders.delete(stream);
    return text;
  }
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
    const content = this.decode(stream, c < 0 ? "" : record.slice(c + 1));
    const soFar = (this.partial.get(stream) ?? "") + content;
    this.lastTime = time;
    if (tag.startsWith("P")) {
      // A writer that never ends its line must not make a reader hold it all: past the cap the
      // joined part goes out as a line of its own, without a newline (the next part continues it).
      if (soFar.length >= MAX_JOINED_LINE) {
        this.partial.delete(stream);
        return { time, stream, line: soFar, cursor: this.cursorFor(time) };
      }
      this.partial.set(stream, soFar);
      return null;
    }
    this.partial.delete(stream);
    return { time, stream, line: `${soFar}\n`, cursor: this.cursorFor(time) };
  }
  /** Lines the writer never finished (the container's last output had no newline). */
  flush(): LogEntry[] {
    const out = [...this.partial].map(([stream, line]) => ({
      time: this.lastTime,
      stream: stream as LogEntry["stream"],
      line,
      cursor: this.cursorFor(this.lastTime),
    }));
    this.partial.clear();
    return out;
  }
}

/** An open log file read from `offset` on; the handle keeps the file readable after the rotation renames or drops it. */
interface OpenLog {
  fh: FileHandle;
  ino: number;
  offset: number;
  rest: string;
  /**
   * The read buffer, kept for the file's whole follow: a fresh megabyte per read (two reads per
   * wake-up) made enough garbage outside the heap for a GC pause every few hundred wake-ups,
   * which was the tail of live log latency.
   */
  buf?: Buffer;
  /** The last read reached the end of what had been written. */
  atEnd?: boolean;
}

async function openLog(path: string): Promise<OpenLog | null> {
  try {
    const fh = await open(path, "r");
    return { fh, ino: (await fh.stat()).ino, offset: 0, rest: "" };
  } catch {
    return null;
  }
}

async function closeLog(log: OpenLog): Promise<void> {
  await log.fh.close().catch(() => undefined);
}

const READ_BUFFER_BYTES = 256 * 1024;

/**
 * The complete records appended since the last read (up to `end`); an incomplete last record waits
 * in `rest`. A read shorter than asked for reached the end of what was written: `atEnd` is set and
 * no empty read follows. `live` (a follower's fresh appends: small, in the page cache) reads
 * synchronously: two thread-pool round trips per wake-up were most of a live line's delay.
 */
async function readRecords(log: OpenLog, end = Number.POSITIVE_INFINITY, live = false): Promise<string[]> {
  const records: string[] = [];
  log.buf ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const buf = log.buf;
  log.atEnd = false;
  while (log.offset < end) {
    const want = Math.min(buf.length, end - log.offset);
    const bytesRead = live ? readSync(log.fh.fd, buf, 0, want, log.offset) : (await log.fh.read(buf, 0, want, log.offset)).bytesRead;
    if (bytesRead === 0) {
      log.atEnd = true;
      break;
    }
    log.offset += bytesRead;
    // latin1: one character per byte, so a record's bytes survive to the assembler (see LineAssembler).
    const lines = (log.rest + buf.toString("latin1", 0, bytesRead)).split("\n");
    log.rest = lines.pop() ?? "";
    records.push(...lines);
    if (bytesRead < want) {
      log.atEnd = true;
      break;
    }
    if (records.length >= 10_000) break;
  }
  return records;
}

/** Every record left in a file no longer written (conmon moved on to a newer one), in reads of up to 10,000. */
async function* drain(log: OpenLog): AsyncGenerator<string[]> {
  for (let recs = await readRecords(log); recs.length; recs = await readRecords(log)) yield recs;
  if (log.rest) yield [log.rest];
  log.rest = "";
}

interface ChainEntry {
  name: string;
  ino: number;
}

/**
 * The log's file names with their inodes, oldest first: `<log>.N` … `<log>.1`, then `<log>`.
 * A file under two names (linked as `<log>.1` before conmon reopened) is listed once, as the newest.
 */
function listChain(path: string): ChainEntry[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .filter((n) => n.startsWith(`${base}.`) && /^[1-9]\d{0,3}$/.test(n.slice(base.length + 1)))
    .map((n) => ({ n, i: Number(n.slice(base.length + 1)) }))
    .sort((a, b) => b.i - a.i)
    .map((x) => join(dir, x.n));
  if (names.includes(base)) rotated.push(path);
  const out: ChainEntry[] = [];
  for (const name of rotated) {
    const ino = inodeOf(name);
    if (ino === 0) continue;
    const twin = out.findIndex((e) => e.ino === ino);
    if (twin >= 0) out.splice(twin, 1);
    out.push({ name, ino });
  }
  return out;
}

const sameChain = (a: ChainEntry[], b: ChainEntry[]) =>
  a.length === b.length && a.every((e, i) => e.name === b[i]!.name && e.ino === b[i]!.ino);

/**
 * Opens the log's files that come after the file with inode `afterIno` (all of them when it is
 * null or no longer kept), oldest first, from one consistent listing. The rotation renames files
 * while a reader works: names read one at a time would skip or repeat a file, so the listing is
 * taken again after opening, and everything is retried until both agree and every handle is the
 * file its name had. A file not last in such a listing is complete: conmon closed it before it
 * put a new file under the log's name.
 */
async function openChain(path: string, afterIno: number | null): Promise<OpenLog[]> {
  for (let attempt = 0; ; attempt++) {
    const listed = listChain(path);
    const at = afterIno === null ? -1 : listed.findIndex((e) => e.ino === afterIno);
    const opened: OpenLog[] = [];
    let stable = true;
    for (const e of listed.slice(at + 1)) {
      const log = await openLog(e.name);
      if (log) opened.push(log);
      if (log?.ino !== e.ino) {
        stable = false;
        break;
      }
    }
    if (stable && sameChain(listed, listChain(path))) return opened;
    await Promise.all(opened.map(closeLog));
    if (attempt >= 1000) throw new Error(`the log files of ${basename(dirname(path))} kept changing while they were opened`);
    await sleep(attempt < 10 ? 0 : 2);
  }
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
  // Every file is read through a handle from one consistent listing (openChain), so rotations
  // while the log is read never make a reader skip or repeat a file.
  const chain = await openChain(path, null);
  let live: OpenLog | null = chain.pop() ?? null;
  const changes = opts.follow ? new FileChanges(path) : null;
  try {
    const end = live ? (await live.fh.stat()).size : 0;
    const history = async function* () {
      while (chain.length) {
        const file = chain.shift()!;
        // A resumed reader skips whole files that end before its cursor.
        if (!(after && tail === undefined && (await lastRecordBefore(file, after.ns)))) for await (const recs of drain(file)) yield* recs;
        await closeLog(file);
      }
      if (live)
        while (live.offset < end) {
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

    // Follow: read what is appended. When conmon has put a new file under the log's name (or the
    // keeper dropped the name at exit), finish the open file, then every file after it, and go on
    // with the newest; at the container's end, finish everything there is.
    for (;;) {
      if (opts.signal?.aborted) return;
      if (live) {
        const recs = await readRecords(live, Number.POSITIVE_INFINITY, true);
        if (recs.length) {
          const out = emit(recs);
          if (out.length) yield out;
          if (!live.atEnd) continue;
        }
      }
      const finished = opts.finished?.() ?? false;
      if (finished || inodeOf(path) !== (live?.ino ?? 0)) {
        const newer = await openChain(path, live?.ino ?? null);
        if (newer.length || finished) {
          if (live) {
            for await (const recs of drain(live)) {
              const out = emit(recs);
              if (out.length) yield out;
            }
            await closeLog(live);
          }
          live = newer.pop() ?? null;
          // The outer finally closes what is left in `chain` if the consumer stops early.
          chain.push(...newer);
          while (chain.length) {
            for await (const recs of drain(chain[0]!)) {
              const out = emit(recs);
              if (out.length) yield out;
            }
            await closeLog(chain.shift()!);
          }
          if (!finished) continue;
          if (live) {
            for await (const recs of drain(live)) {
              const out = emit(recs);
              if (out.length) yield out;
            }
          }
          const rest = assembler.flush().filter(want);
          if (rest.length) yield rest;
          return;
        }
      }
      if (!(await changes!.wait(100, opts.signal))) return;
    }
  } finally {
    changes?.close();
    await Promise.all(chain.map(closeLog));
    if (live) await closeLog(live);
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

export class LogCursorError extends AgentError {
  override name = "LogCursorError";
  constructor(message: string) {
    super(message, "INVALID");
  }
}

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
  return BigInt(ms) * 1_000_000n + BigInt(`${m[2] ?? ""}000000000`.slice(0, 9));
}

/** True when a rotated file's last record is stamped before `ns` (it holds nothing after a cursor at ns). */
async function lastRecordBefore(log: OpenLog, ns: bigint): Promise<boolean> {
  try {
    const size = (await log.fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await log.fh.read(buf, 0, len, size - len);
    const lines = buf.toString("utf8").split("\n").filter(Boolean);
    const last = lines[lines.length - 1];
    if (!last) return false;
    return logTimeNanos(last.slice(0, last.indexOf(" "))) < ns;
  } catch {
    return false;
  }
}
