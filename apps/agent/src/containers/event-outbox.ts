import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentEvent, EventLog } from "./events.ts";

/*
 * The host's events kept until the control plane says it has them: every event is appended to a
 * file as it happens, and forgotten once acknowledged (`events.ack`). After a re-link (to the same
 * control-plane process or another, after a minute or an hour) the control plane asks for what
 * is past the last number it kept, and gets each event once more at most; it drops repeats by
 * (host, numbering, sequence). The store is bounded: past it the oldest are dropped, and the gap
 * is counted in the next replay. The numbering survives restarts of the agent; a new state
 * directory starts a new numbering (a new `id`), which the control plane sees and takes whole.
 */

/** At most this many unacknowledged events, or this many bytes of them, are kept. */
export const OUTBOX_MAX_EVENTS = 20_000;
export const OUTBOX_MAX_BYTES = 16 * 1024 * 1024;
/** The file is rewritten without acknowledged events once this many have piled up in it. */
const COMPACT_AFTER = 2_000;

interface Meta {
  id: string;
  acked: number;
}

export class EventOutbox {
  private readonly pending: Array<{ event: AgentEvent; bytes: number }> = [];
  private bytes = 0;
  /** Lines in the file no longer kept (acknowledged, or dropped by the bound) since it was last rewritten. */
  private ackedInFile = 0;
  private meta: Meta;

  private constructor(
    private readonly dir: string,
    meta: Meta,
  ) {
    this.meta = meta;
  }

  /** Opens (or makes) the outbox in `dir`, reading back what was unacknowledged at the last stop. */
  static open(dir: string, limits: { maxEvents?: number; maxBytes?: number } = {}): EventOutbox {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const metaFile = join(dir, "meta.json");
    let meta: Meta = { id: randomUUID(), acked: 0 };
    if (existsSync(metaFile)) {
      try {
        const m = JSON.parse(readFileSync(metaFile, "utf8")) as Partial<Meta>;
        if (typeof m.id === "string" && typeof m.acked === "number") meta = { id: m.id, acked: m.acked };
      } catch {
        // A torn meta file: a new numbering, which the control plane takes whole.
      }
    }
    const box = new EventOutbox(dir, meta);
    box.limits = { maxEvents: limits.maxEvents ?? OUTBOX_MAX_EVENTS, maxBytes: limits.maxBytes ?? OUTBOX_MAX_BYTES };
    const file = join(dir, "events.jsonl");
    if (existsSync(file)) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        if (!line) continue;
        try {
          const event = JSON.parse(line) as AgentEvent;
          if (typeof event.seq === "number" && event.seq > meta.acked) box.keep(event, Buffer.byteLength(line) + 1);
        } catch {
          // A line torn by a crash mid-write: the events before it stand.
        }
      }
    }
    box.saveMeta();
    box.rewrite();
    return box;
  }

  private limits = { maxEvents: OUTBOX_MAX_EVENTS, maxBytes: OUTBOX_MAX_BYTES };

  /** The numbering's id. */
  get id(): string {
    return this.meta.id;
  }

  /** The last number given: the event log continues after it. */
  get lastSeq(): number {
    return Math.max(this.meta.acked, this.pending.at(-1)?.event.seq ?? 0);
  }

  /** Keeps every event of `log` from now on. */
  attach(log: EventLog): () => void {
    return log.subscribe((e) => this.add(e));
  }

  add(event: AgentEvent): void {
    const line = `${JSON.stringify(event)}\n`;
    appendFileSync(join(this.dir, "events.jsonl"), line, { mode: 0o600 });
    this.keep(event, Buffer.byteLength(line));
    // A control plane away for long: the lines the bound dropped must not grow the file either.
    this.compactIfDue();
  }

  private compactIfDue(): void {
    if (this.ackedInFile >= COMPACT_AFTER && this.ackedInFile >= this.pending.length) this.rewrite();
  }

  private keep(event: AgentEvent, bytes: number): void {
    this.pending.push({ event, bytes });
    this.bytes += bytes;
    // Bounded: the oldest go (a replay then reports them as a gap).
    while (this.pending.length > this.limits.maxEvents || this.bytes > this.limits.maxBytes) {
      const gone = this.pending.shift()!;
      this.bytes -= gone.bytes;
      this.ackedInFile++;
    }
  }

  /**
   * What a reader that has everything up to `after` of numbering `stream` still needs, and how
   * many events between are gone (dropped by the bound). Another numbering gets all that is kept.
   */
  since(after: number, stream: string | undefined): { events: AgentEvent[]; gap: number } {
    const from = stream === this.meta.id ? after : 0;
    const events = this.pending.filter((p) => p.event.seq > from).map((p) => p.event);
    const first = events[0]?.seq ?? this.lastSeq + 1;
    // Numbers past `from` that are neither kept nor acknowledged were dropped by the bound.
    const gap = Math.max(0, first - Math.max(from, this.meta.acked) - 1);
    return { events, gap };
  }

  /** The control plane has kept everything up to `seq` of numbering `stream`. */
  ack(stream: string, seq: number): void {
    if (stream !== this.meta.id || seq <= this.meta.acked) return;
    let n = 0;
    while (this.pending.length && this.pending[0]!.event.seq <= seq) {
      this.bytes -= this.pending.shift()!.bytes;
      n++;
    }
    this.meta = { ...this.meta, acked: Math.min(seq, this.lastSeq) };
    this.saveMeta();
    this.ackedInFile += n;
    this.compactIfDue();
  }

  /** How many events wait for an acknowledgement. */
  get size(): number {
    return this.pending.length;
  }

  private saveMeta(): void {
    const tmp = join(this.dir, "meta.json.tmp");
    writeFileSync(tmp, JSON.stringify(this.meta), { mode: 0o600 });
    renameSync(tmp, join(this.dir, "meta.json"));
  }

  /** The file holds exactly the unacknowledged events again. */
  private rewrite(): void {
    const tmp = join(this.dir, "events.jsonl.tmp");
    writeFileSync(tmp, this.pending.map((p) => `${JSON.stringify(p.event)}\n`).join(""), { mode: 0o600 });
    renameSync(tmp, join(this.dir, "events.jsonl"));
    this.ackedInFile = 0;
  }
}
