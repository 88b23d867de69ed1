// The OCI runtimes one agent drives: runc (the default, or the binary given with --runtime) and
// crun where it is installed. Each keeps its state under a root of its own; a container names its
// runtime in HostConfig.Runtime, and every call about a container goes to that runtime.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveBinary } from "./binaries.ts";
import { cgroupV2 } from "./cgroup-version.ts";
import { Runc } from "./runc.ts";

/** Runtimes Berth knows how to drive, besides the default; each is offered only when its binary is found. */
const OPTIONAL = ["crun"];

export class OciRuntimes {
  private readonly runtimes = new Map<string, Runc>();
  private readonly unusable = new Map<string, string>();

  constructor(
    stateDir: string,
    defaultBinary: string,
    /** The runtime a container was created with ("" or absent for the default). */
    private readonly runtimeOf: (id: string) => string | undefined,
  ) {
    this.runtimes.set("runc", new Runc(resolveBinary(defaultBinary), join(stateDir, "runc")));
    for (const name of OPTIONAL) {
      const binary = resolveBinary(name);
      if (!binary.startsWith("/") || !existsSync(binary)) continue;
      if (hybridCgroups()) this.unusable.set(name, "it cannot run containers on this host's hybrid cgroup v1/v2 layout");
      else this.runtimes.set(name, new Runc(binary, join(stateDir, name)));
    }
  }

  /** Why an installed runtime is not offered, if it is not. */
  whyUnusable(name: string): string | undefined {
    return this.unusable.get(name);
  }

  /** The names a container may ask for (HostConfig.Runtime), the default first. */
  names(): string[] {
    return [...this.runtimes.keys()];
  }

  /** A runtime by name (one of names()). */
  byName(name: string): Runc {
    return this.runtimes.get(name) ?? this.default;
  }

  /** The default runtime (runc). */
  get default(): Runc {
    return this.runtimes.get("runc")!;
  }

  /** The runtime that runs container `id`. */
  for(id: string): Runc {
    return this.runtimes.get(this.runtimeOf(id) || "runc") ?? this.default;
  }
}

/**
 * cgroup v1 with controllers also on the unified (v2) hierarchy: crun refuses to run there ("cgroups
 * in hybrid mode not supported"), runc copes.
 */
function hybridCgroups(): boolean {
  if (cgroupV2()) return false;
  try {
    return readFileSync("/sys/fs/cgroup/unified/cgroup.controllers", "utf8").trim() !== "";
  } catch {
    return false;
  }
}
