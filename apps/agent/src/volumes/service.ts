import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../state/index.ts";
import { noSuchVolume, VolumeError } from "./errors.ts";

/*
 * Named local volumes, as Docker's `local` driver keeps them: a directory per volume
 * (<state>/volumes/<name>/_data) and its metadata beside it. Containers mount `_data`.
 */

/** Docker's label on volumes made for a container (an image's VOLUME, or `-v /path`). */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeRecord {
  Name: string;
  Driver: "local";
  Labels: Record<string, string>;
  Options: Record<string, string>;
  CreatedAt: string;
}

export interface VolumeInfo extends VolumeRecord {
  Mountpoint: string;
  Scope: "local";
  Status?: Record<string, unknown>;
  UsageData?: { Size: number; RefCount: number };
}

export interface VolumeServiceOptions {
  stateDir: string;
  /** IDs of the containers (running or not) that mount a volume: a volume in use is not removed. */
  usersOf: (name: string) => string[];
  /** Docker's volume events (create, destroy) for the agent's event stream. */
  onEvent?: (action: string, name: string, attributes: Record<string, string>) => void;
}

export class VolumeService {
  private readonly root: string;
  private readonly volumes = new Map<string, VolumeRecord>();

  constructor(private readonly o: VolumeServiceOptions) {
    this.root = join(o.stateDir, "volumes");
    mkdirSync(this.root, { recursive: true, mode: 0o701 });
    for (const name of readdirSync(this.root)) {
      try {
        this.volumes.set(name, JSON.parse(readFileSync(join(this.root, name, "volume.json"), "utf8")) as VolumeRecord);
      } catch {
        // A volume whose metadata is unreadable is left for an operator; it is not listed.
      }
    }
  }

  /** The host directory a container mounts. */
  mountpoint(name: string): string {
    return join(this.root, name, "_data");
  }

  /**
   * Creates a volume, or returns the existing one of that name (Docker's create is idempotent).
   * Without a name it is anonymous: a random 64-hex name.
   */
  create(
    opts: { Name?: string; Labels?: Record<string, string> | null; DriverOpts?: Record<string, string> | null; Driver?: string } = {},
  ): VolumeInfo {
    if (opts.Driver && opts.Driver !== "local")
      throw new VolumeError(`error looking up volume plugin ${opts.Driver}: plugin "${opts.Driver}" not found`, "NOT_FOUND");
    if (opts.DriverOpts && Object.keys(opts.DriverOpts).length > 0)
      throw new VolumeError("the local driver here takes no options (type, device and o are not supported yet)", "INVALID");
    const name = opts.Name || randomBytes(32).toString("hex");
    if (name.length === 1)
      throw new VolumeError(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`, "INVALID");
    if (!NAME.test(name) || name.length > 255)
      throw new VolumeError(
        `create ${name}: "${name}" includes invalid characters for a local volume name, ` +
          'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
        "INVALID",
      );
    const existing = this.volumes.get(name);
    if (existing) return this.info(existing);
    const rec: VolumeRecord = {
      Name: name,
      Driver: "local",
      Labels: { ...(opts.Labels ?? {}) },
      Options: {},
      CreatedAt: new Date().toISOString(),
    };
    mkdirSync(this.mountpoint(name), { recursive: true, mode: 0o755 });
    writeFileAtomic(join(this.root, name, "volume.json"), JSON.stringify(rec));
    this.volumes.set(name, rec);
    this.o.onEvent?.("create", name, { driver: "local" });
    return this.info(rec);
  }

  get(name: string): VolumeRecord | undefined {
    return this.volumes.get(name);
  }

  inspect(name: string): VolumeInfo {
    const rec = this.volumes.get(name);
    if (!rec) throw noSuchVolume(name);
    return this.info(rec);
  }

  /** Volumes, filtered as Docker's list: name (substring), label (key or key=value), dangling. */
  list(filters: { name?: string[]; label?: string[]; dangling?: boolean } = {}): VolumeInfo[] {
    return [...this.volumes.values()]
      .filter((v) => !filters.name?.length || filters.name.some((n) => v.Name.includes(n)))
      .filter((v) => !filters.label?.length || filters.label.every((l) => matchesLabel(v.Labels, l)))
      .filter((v) => filters.dangling === undefined || (this.o.usersOf(v.Name).length === 0) === filters.dangling)
      .map((v) => this.info(v));
  }

  /**
   * Removes a volume; one a container mounts is refused unless forced (Docker's message and 409).
   * A container that mounts a force-removed named volume gets a new, empty one at its next start.
   */
  remove(name: string, opts: { force?: boolean } = {}): void {
    const rec = this.volumes.get(name);
    if (!rec) {
      if (opts.force) return;
      throw noSuchVolume(name);
    }
    const users = this.o.usersOf(name);
    if (users.length > 0 && !opts.force) throw new VolumeError(`remove ${name}: volume is in use - [${users.join(", ")}]`, "CONFLICT");
    this.volumes.delete(name);
    rmSync(join(this.root, name), { recursive: true, force: true });
    this.o.onEvent?.("destroy", name, { driver: rec.Driver });
  }

  /**
   * Removes unused volumes: anonymous ones only, unless `all` (Docker's default since API 1.42).
   * `label` keeps those matching every filter, `notLabel` (Docker's `label!`) drops those matching every one.
   */
  prune(opts: { all?: boolean; label?: string[]; notLabel?: string[] } = {}): { VolumesDeleted: string[]; SpaceReclaimed: number } {
    const deleted: string[] = [];
    let space = 0;
    for (const v of [...this.volumes.values()]) {
      if (this.o.usersOf(v.Name).length > 0) continue;
      if (!opts.all && v.Labels[ANONYMOUS_LABEL] === undefined) continue;
      if (opts.label?.length && !opts.label.every((l) => matchesLabel(v.Labels, l))) continue;
      if (opts.notLabel?.length && opts.notLabel.every((l) => matchesLabel(v.Labels, l))) continue;
      space += diskUsage(this.mountpoint(v.Name));
      this.remove(v.Name);
      deleted.push(v.Name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  /** Whether a volume has never held anything (the condition for copying the image's content in). */
  isEmpty(name: string): boolean {
    const dir = this.mountpoint(name);
    return !existsSync(dir) || readdirSync(dir).length === 0;
  }

  private info(rec: VolumeRecord): VolumeInfo {
    return { ...rec, Mountpoint: this.mountpoint(rec.Name), Scope: "local" };
  }
}

function matchesLabel(labels: Record<string, string>, filter: string): boolean {
  const i = filter.indexOf("=");
  if (i < 0) return filter in labels;
  return labels[filter.slice(0, i)] === filter.slice(i + 1);
}

/** Bytes under a directory (files only, not following symlinks). */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          total += lstatSync(p).size;
        } catch {
          // vanished
        }
      }
    }
  };
  walk(dir);
  return total;
}
