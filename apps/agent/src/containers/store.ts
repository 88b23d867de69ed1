import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../state/index.ts";
import type { ContainerRecord } from "./record.ts";

/** A removed container's directory on its way out (deleted in the background). */
const TRASH_PREFIX = ".removed-";

/** Container records on disk, one directory per container, each written atomically. */
export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly deleting = new Set<Promise<void>>();

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    for (const id of readdirSync(root)) {
      // What a crash left of a removal: finished now.
      if (id.startsWith(TRASH_PREFIX)) {
        this.deleteInBackground(join(root, id));
        continue;
      }
      const file = join(root, id, "container.json");
      if (!existsSync(file)) continue;
      try {
        this.byId.set(id, JSON.parse(readFileSync(file, "utf8")) as ContainerRecord);
      } catch {
        // A record that cannot be read is left on disk for an operator to inspect, not deleted.
      }
    }
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  get(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  /** By full ID, exact name (with or without a leading slash), or a unique ID prefix, as Docker resolves. */
  find(ref: string): ContainerRecord | "ambiguous" | undefined {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const name = ref.replace(/^\//, "");
    for (const r of this.byId.values()) if (r.name === name) return r;
    if (!/^[a-f0-9]{1,64}$/.test(ref)) return undefined;
    const hits = [...this.byId.values()].filter((r) => r.id.startsWith(ref));
    if (hits.length > 1) return "ambiguous";
    return hits[0];
  }

  save(rec: ContainerRecord): void {
    writeFileAtomic(join(this.dir(rec.id), "container.json"), JSON.stringify(rec));
    this.byId.set(rec.id, rec);
  }

  /**
   * Forgets a container: its directory leaves the tree in one rename and is deleted in the
   * background (a long log takes a while to delete, and `docker run --rm` waits on the removal).
   */
  delete(id: string): void {
    this.byId.delete(id);
    const trash = join(this.root, `${TRASH_PREFIX}${id}`);
    try {
      renameSync(this.dir(id), trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    this.deleteInBackground(trash);
  }

  private deleteInBackground(dir: string): void {
    const gone = rm(dir, { recursive: true, force: true })
      .catch(() => undefined) // tried again at the next start
      .finally(() => this.deleting.delete(gone));
    this.deleting.add(gone);
  }

  /** Resolves once the directories of removed containers are deleted from disk. */
  async settled(): Promise<void> {
    while (this.deleting.size) await Promise.all([...this.deleting]);
  }
}
