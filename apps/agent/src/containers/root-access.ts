// Reaching into a container's filesystem from the host (`docker cp`), safely: a running
// container through /proc/PID/root (its own mount namespace, volumes included), a stopped one
// through a temporary mount of its snapshot with its volumes and binds on it. Paths inside it go through root-path.ts, so that no
// symlink inside the container can lead outside its root.
//
// Resolving a path and then using it is only safe if nothing changes it in between: a process in
// the container could swap a checked directory for a symlink to `/`, and our write, resolved from
// the agent's root, would land on the host (CVE-2018-15664). So a running container is frozen
// (cgroup freezer, as `docker pause`) for as long as we work on its files. Exec'd processes join
// the container's cgroup, so they freeze with it.
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Snapshotter } from "../snapshots/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import { ContainerError } from "./errors.ts";
import type { ContainerRecord } from "./record.ts";
import { resolveInRoot } from "./root-path.ts";
import type { ContainerService } from "./service.ts";

/** What the runtime says when the container's process has exited (runc's pause of a stopped container). */
const PROCESS_GONE = /not running|does not exist|process already finished/i;

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
    // Its process is gone and the exit is not recorded yet (a short-lived command): nothing runs to freeze.
    if (e instanceof Error && PROCESS_GONE.test(e.message)) return "none";
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

/**
 * Runs `fn` with the container frozen if it runs (commit's `pause`): a paused one stays paused, a
 * stopped or created one, or one whose process just exited, is not touched. Shares the freeze of
 * concurrent `docker cp`s, so neither thaws the container under the other.
 */
export async function withFrozen<T>(containers: ContainerService, ref: string, fn: () => Promise<T>): Promise<T> {
  const { id } = containers.get(ref);
  const thaw = await freeze(containers, id);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    await thaw().catch(() => undefined);
    throw e;
  }
  await thaw();
  return result;
}

/** Runs `fn` with a host path that is the container's root; the freeze or mount lasts until `fn` settles. */
export async function withContainerRoot<T>(
  deps: { containers: ContainerService; snapshots: Snapshotter },
  ref: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const { id } = deps.containers.get(ref);
  return withFrozen(deps.containers, id, () => access(deps, id, fn));
}

/** Whether a process's root can be entered: a zombie's, or a gone process's, cannot. */
function reachable(procRoot: string): boolean {
  try {
    return statSync(`${procRoot}/`).isDirectory();
  } catch {
    return false;
  }
}

async function access<T>(
  deps: { containers: ContainerService; snapshots: Snapshotter },
  id: string,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  let rec = deps.containers.get(id);
  if (deps.containers.isRunning(rec) && rec.state.Pid > 0) {
    const root = `/proc/${rec.state.Pid}/root`;
    // Frozen, it cannot exit under us; unreachable, its process has just exited and the exit is not
    // recorded yet (a short-lived command), so wait for that and read it as a stopped container.
    if (reachable(root)) return fn(root);
    await deps.containers.wait(id, "not-running", AbortSignal.timeout(10_000));
    rec = deps.containers.get(id);
  }
  const dir = join(deps.containers.store.dir(rec.id), `access-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  try {
    await mountAll(await deps.snapshots.mounts(`container-${rec.id}`), dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new ContainerError(`cannot mount the filesystem of container ${rec.id}: ${(e as Error).message}`, "FAILED");
  }
  const mounted = [dir];
  try {
    await mountContainerMounts(deps.containers, rec, dir, mounted);
    return await fn(dir);
  } finally {
    let clean = true;
    for (const m of mounted.reverse()) {
      await unmount(m).catch(() => unmount(m, { detach: true }).catch(() => (clean = false)));
    }
    // Never recursive: were anything still mounted there, a recursive removal would reach into a volume.
    if (clean) await rmdir(dir).catch(() => undefined);
  }
}

/** The depth of a path in the container, for mounting parents before children (as the runtime does). */
const depth = (p: string) => p.split("/").filter(Boolean).length;

/**
 * What a stopped or created container sees besides its layers, put on its temporary root as dockerd
 * does for `docker cp`: its volumes (filled from the image first, as its start would) and binds,
 * with their read-only flag, then the /etc files of its last run. tmpfs mounts have no content
 * when nothing runs, so, as in dockerd, the directory under them shows. Mount points are resolved
 * inside the root (a link in the image cannot lead a mount outside it) and made when missing.
 * Every mount is private, so unmounting it never reaches the source's own mounts.
 */
async function mountContainerMounts(containers: ContainerService, rec: ContainerRecord, root: string, mounted: string[]): Promise<void> {
  await containers.prepareVolumes(rec, root);
  const binds: Array<{ source: string; destination: string; rw: boolean }> = (rec.mounts ?? [])
    .filter((m) => m.Type !== "tmpfs")
    .sort((a, b) => depth(a.Destination) - depth(b.Destination))
    .map((m) => ({ source: m.Source, destination: m.Destination, rw: m.RW }));
  for (const name of ["hostname", "hosts", "resolv.conf"]) {
    const source = join(containers.paths.dir(rec.id), name);
    if (existsSync(source)) binds.push({ source, destination: `/etc/${name}`, rw: !rec.config.HostConfig.ReadonlyRootfs });
  }
  for (const b of binds) {
    const source = statSync(b.source, { throwIfNoEntry: false });
    if (!source) continue; // a bind source removed since: nothing to show there
    const target = resolveInRoot(root, b.destination);
    if (target === null) throw new ContainerError(`too many levels of symbolic links in ${b.destination}`, "FAILED");
    const existing = statSync(target, { throwIfNoEntry: false });
    if (!existing) {
      mkdirSync(dirname(target), { recursive: true });
      if (source.isDirectory()) mkdirSync(target);
      else writeFileSync(target, "", { flag: "wx" });
    }
    try {
      await mountAll([{ type: "bind", source: b.source, options: ["rbind", b.rw ? "rw" : "ro", "rprivate"] }], target);
    } catch (e) {
      throw new ContainerError(`cannot mount ${b.destination} of container ${rec.id}: ${(e as Error).message}`, "FAILED");
    }
    mounted.push(target);
  }
}
