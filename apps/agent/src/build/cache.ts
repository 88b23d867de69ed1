// The build cache's index: a step's key (its parent image, its instruction and what that reads)
// → the image the step made. The images themselves live in the image store, marked as build
// cache; this file survives restarts and forgets entries whose image is gone (pruned).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../state/index.ts";

const FileSchema = z.object({ version: z.literal(1), entries: z.record(z.string(), z.string()) });

/** More entries than this and the oldest go first (insertion order). */
const MAX_ENTRIES = 50_000;

export class BuildCache {
  private readonly file: string;
  private readonly entries = new Map<string, string>();

  constructor(
    stateDir: string,
    /** Whether an image still exists. */
    private readonly exists: (imageId: string) => boolean,
  ) {
    this.file = join(stateDir, "build-cache.json");
    if (existsSync(this.file)) {
      const parsed = FileSchema.safeParse(JSON.parse(readFileSync(this.file, "utf8")));
      if (parsed.success) for (const [k, v] of Object.entries(parsed.data.entries)) this.entries.set(k, v);
    }
  }

  /** The key of a step: any JSON-able description of everything its result depends on. */
  static key(parts: unknown): string {
    return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
  }

  get(key: string): string | undefined {
    const id = this.entries.get(key);
    if (id === undefined) return undefined;
    if (this.exists(id)) return id;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, imageId: string): void {
    this.entries.delete(key);
    this.entries.set(key, imageId);
    while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.save();
  }

  /** Drops the entries whose image is gone; returns how many. */
  forgetMissing(): number {
    let n = 0;
    for (const [k, id] of this.entries) {
      if (!this.exists(id)) {
        this.entries.delete(k);
        n++;
      }
    }
    if (n) this.save();
    return n;
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: Object.fromEntries(this.entries) }), 0o600);
  }
}
