import { closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../state/index.ts";

/*
 * The snapshotter's metadata on disk: a checkpoint (metadata.json, every record) plus a journal
 * (metadata.journal, one JSON line per change since the checkpoint). A change is one appended
 * line and one fdatasync, whatever the number of snapshots; rewriting the whole file took two
 * fsyncs, a rename and a write that grew with every container, on the path of each
 * `docker run --rm` (a prepare and a remove). The journal folds into the checkpoint every
 * COMPACT_AFTER lines. A crash can tear only the last line, which was never acknowledged:
 * it is dropped on load.
 */

export type SnapshotKind = "active" | "view" | "committed";

export interface SnapshotRecord {
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  size?: number;
}

export interface SnapshotState {
  nextId: number;
  snapshots: Map<string, SnapshotRecord>;
}

/** One change: records set (or deleted, with null) together, and the id counter after it. */
export type JournalEntry = { nextId: number; changes: [key: string, rec: SnapshotRecord | null][] };

const KINDS: readonly string[] = ["active", "view", "committed"];
const COMPACT_AFTER = 512;

function invalid(path: string, why: string): Error {
  return new Error(`snapshot metadata ${path} is invalid: ${why}`);
}

function parseRecord(value: unknown, key: string, path: string): SnapshotRecord {
  const r = value as Record<string, unknown> | null;
  if (!r || typeof r.id !== "string" || !/^[0-9]+$/.test(r.id) || typeof r.kind !== "string" || !KINDS.includes(r.kind))
    throw invalid(path, `record ${key}`);
  return {
    id: r.id,
    kind: r.kind as SnapshotKind,
    created: typeof r.created === "string" ? r.created : new Date(0).toISOString(),
    ...(typeof r.parent === "string" ? { parent: r.parent } : {}),
    ...(typeof r.size === "number" ? { size: r.size } : {}),
  };
}

function parseNextId(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw invalid(path, "nextId");
  return v;
}

function parseCheckpoint(text: string, path: string): SnapshotState {
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== "object" || raw === null) throw invalid(path, "not an object");
  const obj = raw as Record<string, unknown>;
  if (obj.version !== 1) throw invalid(path, `unknown version ${String(obj.version)}`);
  const snaps = obj.snapshots;
  if (typeof snaps !== "object" || snaps === null) throw invalid(path, "snapshots");
  const out = new Map<string, SnapshotRecord>();
  for (const [key, value] of Object.entries(snaps as Record<string, unknown>)) out.set(key, parseRecord(value, key, path));
  return { nextId: parseNextId(obj.nextId, path), snapshots: out };
}

function parseEntry(line: string, path: string): JournalEntry {
  const raw = JSON.parse(line) as { n?: unknown; c?: unknown };
  if (!Array.isArray(raw.c)) throw invalid(path, "journal entry without changes");
  const changes = raw.c.map((c: unknown): [string, SnapshotRecord | null] => {
    if (!Array.isArray(c) || typeof c[0] !== "string") throw invalid(path, "journal change");
    return [c[0], c[1] === null ? null : parseRecord(c[1], c[0], path)];
  });
  return { nextId: parseNextId(raw.n, path), changes };
}

export class MetadataJournal {
  private lines = 0;

  constructor(private readonly root: string) {}

  private get checkpointPath(): string {
    return join(this.root, "metadata.json");
  }

  private get journalPath(): string {
    return join(this.root, "metadata.journal");
  }

  /** The checkpoint with every journalled change applied. */
  load(): SnapshotState {
    const state: SnapshotState = existsSync(this.checkpointPath)
      ? parseCheckpoint(readFileSync(this.checkpointPath, "utf8"), this.checkpointPath)
      : { nextId: 1, snapshots: new Map() };
    if (!existsSync(this.journalPath)) return state;
    const lines = readFileSync(this.journalPath, "utf8").split("\n");
    const torn = lines.pop() !== ""; // text after the last newline is an append that never finished
    for (const line of lines) {
      apply(state, parseEntry(line, this.journalPath));
      this.lines++;
    }
    // Drop a torn tail now, so the next append starts on a line of its own.
    if (torn) this.compact(state);
    return state;
  }

  /** Makes `entry` durable; `state` must already include it (it is what a compaction writes). */
  append(entry: JournalEntry, state: SnapshotState): void {
    if (this.lines >= COMPACT_AFTER) {
      this.compact(state);
      return;
    }
    // Opened per change (an open costs microseconds), so a snapshotter holds no descriptor.
    const fd = openSync(this.journalPath, "a", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ n: entry.nextId, c: entry.changes })}\n`);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.lines++;
  }

  /** Writes every record to the checkpoint and empties the journal. */
  private compact(state: SnapshotState): void {
    const file = { version: 1, nextId: state.nextId, snapshots: Object.fromEntries(state.snapshots) };
    writeFileAtomic(this.checkpointPath, JSON.stringify(file, null, 1), 0o600);
    // A crash before the truncate replays changes the checkpoint already holds: harmless.
    const fd = openSync(this.journalPath, "a", 0o600);
    try {
      ftruncateSync(fd, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.lines = 0;
  }
}

export function apply(state: SnapshotState, entry: JournalEntry): void {
  for (const [key, rec] of entry.changes) {
    if (rec === null) state.snapshots.delete(key);
    else state.snapshots.set(key, rec);
  }
  state.nextId = Math.max(state.nextId, entry.nextId);
}
