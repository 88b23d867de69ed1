import { randomInt } from "node:crypto";
import { ContainerError } from "./errors.ts";

// Docker-style generated names (adjective_noun); ours name ships and harbours.
const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fair",
  "gentle",
  "happy",
  "jolly",
  "keen",
  "lucid",
  "merry",
  "nimble",
  "proud",
  "quick",
  "quiet",
  "sharp",
  "steady",
  "swift",
  "tidy",
  "vivid",
  "wise",
];
const NOUNS = [
  "anchor",
  "barge",
  "buoy",
  "cutter",
  "dhow",
  "ferry",
  "galleon",
  "harbor",
  "jetty",
  "keel",
  "ketch",
  "lighter",
  "mast",
  "pier",
  "quay",
  "schooner",
  "sloop",
  "tug",
  "wharf",
  "yawl",
];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = i < 10 ? base : `${base}${randomInt(100)}`;
    if (!taken(name)) return name;
  }
}

/** The names of an agent's containers: taken by a container, or by a create still under way. */
export class ContainerNames {
  /** Names taken by creates still under way: two creates of one name cannot both pass the check. */
  private readonly reserved = new Set<string>();

  constructor(
    /** The container that has the name, if any. */
    private readonly holder: (name: string) => { id: string } | undefined,
  ) {}

  /** Refuses a name another container has, or one a create under way has taken (Docker's words for each). */
  checkFree(name: string, by: "create" | "rename"): void {
    const reuse = "(or rename) that container to be able to reuse that name.";
    const other = this.holder(name);
    if (other) {
      const inUse = `Conflict. The container name "/${name}" is already in use by container "${other.id}".`;
      throw new ContainerError(`${inUse} You have to remove ${reuse}`, "CONFLICT");
    }
    if (this.reserved.has(name)) {
      const creating = `Conflict. The container name "/${name}" is being used by a container being created`;
      throw new ContainerError(by === "create" ? `${creating}; you have to remove ${reuse}` : creating, "CONFLICT");
    }
  }

  /** Taken before a create's first await, given back when its record is saved (or the create fails). */
  reserve(name: string): void {
    this.reserved.add(name);
  }

  release(name: string): void {
    this.reserved.delete(name);
  }

  /** A generated name no container has and no create has taken. */
  generate(): string {
    return generateName((n) => this.reserved.has(n) || this.holder(n) !== undefined);
  }
}
