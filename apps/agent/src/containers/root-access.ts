// Reaching into a container's filesystem from the host (`docker cp`), safely: a running
// container through /proc/PID/root (its own mount namespace, volumes included), a stopped one
// through a temporary mount of its snapshot. Paths inside it go through root-path.ts, so that no
// symlink inside the container can lead outside its root.
//
// Resolving a path and then using it is only safe if nothing changes it in between: a process in
// the container could swap a checked directory for a symlink to `/`, and our write, resolved from
// the agent's root, would land on the host (CVE-2018-15664). So a running container is frozen
// (cgroup freezer, as `docker pause`) for as long as we work on its files. Exec'd processes join
// the container's cgroup, so they freeze with it.
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshotter } from "../snapshots/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerService } from "./service.ts";

/** "ours": we paused it and thaw it when done; "theirs": its user paused it and it stays paused; "none": nothing runs. */
type Freeze = "none" | "ours" | "theirs";

/**
 * One per container being accessed. Concurrent accesses share a freeze (the last one out thaws),
 * and freezes and thaws run one after another, so an access never starts while a thaw is underway.
 */
interface Gate {
  refs: number;
  freeze: Freeze;
  queue: Promise<void>;
}

const gates = new WeakMap<ContainerService, Map<string, Gate>>();

function serially(g: Gate, fn: () => Promise<void>): Promise<void> {
  const run = g.queue.then(fn);
  g.queue = run.catch(() => undefined);
  return run;
}

function statusOf(containers: ContainerService, id: string): string | undefined {
  try {
    return containers.get(id).state.Status;
  } catch {
    return undefined; // removed meanwhile
  }
}

async function freezeOnce(containers: ContainerService, id: string): Promise<Freeze> {
  const before = statusOf(containers, id);
  if (before === "paused") return "theirs";
  if (before !== "running") return "none";
  try {
    await containers.pause(id);
    return "ours";
  } catch (e) {
    // Paused by its user or stopped in the meantime is fine; if the freeze itself failed we must not go on.
    const now = statusOf(containers, id);
    if (now === "paused") return "theirs";
    if (now !== "running") return "none";
    throw e;
  }
}

/** Freezes a running container; resolves to the function that undoes it. */
async function freeze(containers: ContainerService, id: string): Promise<() => Promise<void>> {
  let perService = gates.get(containers);
  if (!perService) {
    perService = new Map();
    gates.set(containers, perService);
  }
  const byId = perService;
  let g = byId.get(id);
  if (!g) {
    g = { refs: 0, freeze: "none", queue: Promise.resolve() };
    byId.set(id, g);
  }
  const gate = g;
  gate.refs++;
  const release = () =>
    serially(gate, async () => {
      if (--gate.refs > 0) return;
      const ours = gate.freeze === "ours";
      gate.freeze = "none";
      try {
        if (ours && statusOf(containers, id) === "paused") await containers.unpause(id);
      } finally {
        // Someone who found this gate while we thawed is queued behind us and keeps it.
        if (gate.refs === 0 && byId.get(id) === gate) byId.delete(id);
      }
    });
  try {
    // Checked again by each access that does not hold our own freeze: a user's pause may have ended.
    await serially(gate, async () => {
      if (gate.freeze !== "ours") gate.freeze = await freezeOnce(containers, id);
    });
  } catch (e) {
    await release().catch(() => undefined);
    throw e;
  }
  return release;
}

/** Runs `fn` with a host path that is the container's root; the freeze or mount lasts until `fn` settles. */
export async function withContainerRoot<T>(
  deps: { containers: ContainerService; snapshots: Snapshotter },
  ref: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const { id } = deps.containers.get(ref);
  const thaw = await freeze(deps.containers, id);
  let result: T;
  try {
    result = await access(deps, id, fn);
  } catch (e) {
    await thaw().catch(() => undefined);
    throw e;
  }
  await thaw();
  return result;
}

async function access<T>(
  deps: { containers: ContainerService; snapshots: Snapshotter },
  id: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const rec = deps.containers.get(id);
  if (deps.containers.isRunning(rec) && rec.state.Pid > 0) return fn(`/proc/${rec.state.Pid}/root`);
  const dir = join(deps.containers.store.dir(rec.id), `access-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  try {
    await mountAll(await deps.snapshots.mounts(`container-${rec.id}`), dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new ContainerError(`cannot mount the filesystem of container ${rec.id}: ${(e as Error).message}`, "FAILED");
  }
  try {
    return await fn(dir);
  } finally {
    await unmount(dir).catch(() => unmount(dir, { detach: true }).catch(() => undefined));
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
