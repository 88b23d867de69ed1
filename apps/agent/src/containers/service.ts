import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { ContainerConfigSchema, ContainerNameSchema, HostConfigSchema } from "@berth/protocol";
import type { ContainerConfig, HostConfig, StatsReport, TaskFile } from "@berth/protocol";
import type { z } from "zod";
import type { ImageService } from "../images/index.ts";
import { SnapshotExistsError, SnapshotNotFoundError, type Snapshotter } from "../snapshots/index.ts";
import { warmMountHelper } from "../mount/index.ts";
import { resolveBinary } from "../runtime/index.ts";
import { nofileHardLimit } from "../runtime/index.ts";
import { OciRuntimes, RuntimeError } from "../runtime/index.ts";
import { resources, SpecError } from "../runtime/index.ts";
import type { LogEntry } from "../logs/index.ts";
import { LogKeepers } from "../logs/index.ts";
import type { ContainerStats } from "../stats/index.ts";
import type { Sampled } from "../stats/index.ts";
import { topProcesses } from "../stats/index.ts";
import type { VolumeService } from "../volumes/index.ts";
import type { Endpoint, EndpointRequest, NetworkService } from "../network/index.ts";
import type { RulePort } from "../network/index.ts";
import { AttachHub, type AttachOptions, type AttachSession } from "./attach.ts";
import { ChangeQueue } from "./change-queue.ts";
import { newRecord, resolveCommand, signalName } from "./create-config.ts";
import { ContainerError, noSuchContainer, notRunning } from "./errors.ts";
import { emitContainerEvent, type EventLog } from "./events.ts";
import { Launcher } from "./launch.ts";
import { checkHostOptions } from "./host-options.ts";
import { allLinks, parseLinks } from "./links.ts";
import { planMounts, prepareMounts, removeAnonymousVolumes, volumesFrom } from "./mounts.ts";
import { ContainerNames } from "./names.ts";
import { checkPublishedPorts, NetworkAttachment } from "./network-attachment.ts";
import { ContainerPaths } from "./paths.ts";
import { isRunning, type ContainerRecord } from "./record.ts";
import { deleteFromRuntime, unmountRootfs } from "./runtime-cleanup.ts";
import { releaseShm } from "./shared-namespaces.ts";
import { releaseTaskFiles, writeTaskFiles } from "./task-files.ts";
import { ContainerStatsReader, type NamedStats } from "./stats.ts";
import { ContainerStdio, type LogOptions } from "./stdio.ts";
import { ContainerStore } from "./store.ts";
import { Supervision, type WaitCondition, type WaitResult } from "./supervision.ts";
import { containerInspect, containerSummary, type ContainerInspect, type ContainerSummary, type ViewContext } from "./views.ts";

export type { WaitCondition, WaitResult } from "./supervision.ts";

/** How a container is removed; `keepLayerAs` is for the builder (see `remove`). */
type RemoveOptions = { force?: boolean; volumes?: boolean; keepLayerAs?: string };

/** `bindPrefixes`: the team's container policy limits bind sources to these host paths (links resolved). */
type CreateOptions = { bindPrefixes?: string[]; files?: TaskFile[] };
type Created = { Id: string; Warnings: string[] };

/** What the runtime says when a signal finds the container's process gone. */
const GONE = /not running|does not exist|container not running|process already finished/i;

export interface ContainerServiceOptions {
  stateDir: string;
  images: ImageService;
  snapshots: Snapshotter;
  events: EventLog;
  /** OCI runtime binary (runc by default; anything with runc's CLI, e.g. crun). */
  runtime?: string;
  conmon?: string;
  /** cgroupfs parent of every container of this agent. */
  cgroupParent?: string;
  /** Host path of a static init for `Init: true`. */
  initPath?: string;
  volumes: VolumeService;
  /** Bridge networking; without it containers get `none` (loopback only) or `host`. */
  networks?: NetworkService;
}

/**
 * Containers on this host: created from an image into an overlay snapshot, run by the OCI
 * runtime under one conmon each, so they outlive the agent. State is persisted per container;
 * on start-up the agent re-adopts running containers and records exits it missed.
 *
 * This is the lifecycle (create, start, stop, kill, pause, restart, remove, update, rename), each
 * change queued per container. Every state it records goes through `supervision`; networks, views
 * and stats have modules of their own.
 */
/** How long a SIGKILL (a kill, a forced remove) waits for the container's exit before going on. */
const KILL_WAIT_MS = 10_000;

export class ContainerService {
  readonly store: ContainerStore;
  /** The OCI runtimes, each container's by its HostConfig.Runtime. */
  readonly runc: OciRuntimes;
  readonly paths: ContainerPaths;
  readonly supervision: Supervision;
  private readonly network: NetworkAttachment;
  private readonly launcher: Launcher;
  private readonly statsReader: ContainerStatsReader;
  private readonly stdio: ContainerStdio;
  private readonly changes = new ChangeQueue();
  private readonly names = new ContainerNames((name) => this.store.all().find((r) => r.name === name));
  /** Rotates the logs of running containers with a max-size (on a worker thread). */
  private readonly logKeepers = new LogKeepers();
  private readonly attachHub = new AttachHub();

  constructor(private readonly o: ContainerServiceOptions) {
    const paths = new ContainerPaths(o.stateDir);
    this.paths = paths;
    const store = new ContainerStore(paths.containersDir);
    this.store = store;
    const runc = new OciRuntimes(o.stateDir, o.runtime ?? "runc", (id) => store.get(id)?.config.HostConfig.Runtime);
    this.runc = runc;
    for (const dir of [paths.exitDir, paths.socketsDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { logKeepers, changes, attachHub } = this;
    const events = o.events;
    const cgroupParent = o.cgroupParent ?? "/berth";
    const network = new NetworkAttachment({ store, paths, networks: o.networks, find: (ref) => this.get(ref) });
    this.network = network;
    // Restarts by policy launch again, and `--rm` removes, both through this service's queue of changes.
    const launch = (rec: ContainerRecord) => this.launcher.launch(rec);
    const remove = (id: string, opts: { force: boolean; volumes: boolean }) => this.remove(id, opts);
    const supervision = new Supervision({ store, paths, runc, logKeepers, changes, network, events, launch, remove });
    this.supervision = supervision;
    const runtime = { conmonBin: resolveBinary(o.conmon ?? "conmon"), cgroupParent, nofileHard: nofileHardLimit(), initPath: o.initPath };
    const layers = { snapshots: o.snapshots, volumes: o.volumes, network, logKeepers, attachHub, supervision };
    this.launcher = new Launcher({ store, paths, runc, ...runtime, ...layers, find: (ref) => this.get(ref) });
    this.statsReader = new ContainerStatsReader(store, cgroupParent);
    this.stdio = new ContainerStdio({ store, paths, attachHub, events });
  }

  /** Starts exit monitoring and re-adopts what was running before this agent started. */
  async init(): Promise<void> {
    warmMountHelper();
    // Snapshot directories a crash left behind (removed snapshots are deleted in the background).
    void this.o.snapshots.cleanup().catch(() => undefined);
    await this.supervision.start();
  }

  async close(): Promise<void> {
    await this.supervision.close();
    await this.logKeepers.close();
    this.statsReader.close();
    await Promise.all([this.o.snapshots.settled(), this.store.settled()]);
  }

  // ---------------------------------------------------------------- paths

  rootfs(id: string): string {
    return this.paths.rootfs(id);
  }
  logPath(id: string): string {
    return this.paths.logPath(id);
  }
  /** The container's writable layer (what `docker diff`, `system df` and commit read). */
  upperDir(ref: string): Promise<string> {
    return this.o.snapshots.upperDir(this.paths.snapshotKey(this.get(ref).id));
  }

  /** Readies the volumes of a container that is not running to be seen on `rootfs` (made again, filled once), as its start would. */
  async prepareVolumes(rec: ContainerRecord, rootfs: string): Promise<void> {
    if (await prepareMounts(rec.mounts ?? [], rootfs, this.o.volumes)) this.store.save(rec);
  }

  // ---------------------------------------------------------------- lookup

  get(ref: string): ContainerRecord {
    const r = this.store.find(ref);
    if (r === "ambiguous") throw new ContainerError(`Multiple IDs found with provided prefix: ${ref}`, "INVALID");
    if (!r) throw noSuchContainer(ref);
    return r;
  }

  isRunning(rec: ContainerRecord): boolean {
    return isRunning(rec);
  }

  /** Whether any container (running or not) uses the image: images in use are not removed. */
  usesImage(imageId: string): boolean {
    return this.store.all().some((r) => r.image === imageId);
  }

  /** IDs of the containers that mount volume `name`, running or not. */
  volumeUsers(name: string): string[] {
    return this.store
      .all()
      .filter((r) => r.mounts?.some((m) => m.Type === "volume" && m.Name === name))
      .map((r) => r.id);
  }

  /** What container `id` asked of its networks' embedded DNS: its `--dns` servers and its links' aliases. */
  resolutionOf(id: string): { dns: string[]; links: Array<{ alias: string; containerId: string }> } {
    const rec = this.store.get(id);
    if (!rec) return { dns: [], links: [] };
    const links = parseLinks(allLinks(rec)).flatMap((l) => {
      const target = this.store.find(l.target);
      return target && target !== "ambiguous" ? [{ alias: l.alias, containerId: target.id }] : [];
    });
    return { dns: rec.config.HostConfig.Dns ?? [], links };
  }

  /** Emits a container event with Docker's attributes (exec and attach events come from outside the lifecycle). */
  event(action: string, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    emitContainerEvent(this.o.events, action, rec, extra);
  }

  // ---------------------------------------------------------------- create

  async create(input: z.input<typeof ContainerConfigSchema>, name?: string, opts: CreateOptions = {}): Promise<Created> {
    const config = ContainerConfigSchema.parse(input);
    if (name !== undefined && name !== "" && !ContainerNameSchema.safeParse(name).success) {
      throw new ContainerError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, "INVALID");
    }
    const wanted = name ? name.replace(/^\//, "") : undefined;
    if (wanted) this.names.checkFree(wanted, "create");
    // Taken before the first await and given back when the record is saved (or the create fails).
    if (wanted) this.names.reserve(wanted);
    try {
      return await this.createNamed(config, wanted, opts);
    } finally {
      if (wanted) this.names.release(wanted);
    }
  }

  private async createNamed(config: ContainerConfig, wanted: string | undefined, opts: CreateOptions): Promise<Created> {
    const img = this.o.images.resolve(config.Image);
    const imageConfig = await this.o.images.config(img);
    const imgCfg = imageConfig.config ?? {};
    const { argv, workingDir } = resolveCommand(config, imgCfg);
    const id = randomBytes(32).toString("hex");
    const hostname = config.Hostname || id.slice(0, 12);
    this.launcher.checkSpec(argv, workingDir, hostname, config.HostConfig);
    const finalName = wanted ?? this.names.generate();
    const top = img.layers[img.layers.length - 1]?.chainId;
    const warnings = checkHostOptions(config, (ref) => this.get(ref), this.runc);
    const networks = this.network.requestedNetworks(config);
    checkPublishedPorts(config, networks);
    const inherited = volumesFrom(config.HostConfig.VolumesFrom ?? [], (ref) => this.get(ref));
    const mounts = planMounts(config, imgCfg.Volumes ?? undefined, this.o.volumes, opts.bindPrefixes, inherited);
    const dir = this.paths.dir(id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      await this.o.snapshots.prepare(this.paths.snapshotKey(id), top);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      removeAnonymousVolumes(mounts, this.o.volumes);
      throw e;
    }
    const image = { imageId: img.id, image: imgCfg, imageArchitecture: imageConfig.architecture };
    const rec = newRecord({ id, name: finalName, config, ...image, argv, workingDir, hostname, mounts, networks });
    try {
      if (opts.files?.length) rec.taskFiles = await writeTaskFiles(this.paths, id, opts.files);
    } catch (e) {
      await this.o.snapshots.remove(this.paths.snapshotKey(id)).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      removeAnonymousVolumes(mounts, this.o.volumes);
      throw e;
    }
    this.store.save(rec);
    this.event("create", rec);
    return { Id: id, Warnings: warnings };
  }

  // ---------------------------------------------------------------- start, stop, signals

  async start(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.changes.run(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status === "running") throw new ContainerError(`container ${rec.id} is already running`, "NOT_MODIFIED");
      if (rec.state.Status === "paused") throw new ContainerError(`cannot start a paused container, try unpause instead`, "CONFLICT");
      if (rec.state.Status === "removing") {
        throw new ContainerError(`container ${rec.id} is marked for removal and cannot be started`, "CONFLICT");
      }
      this.supervision.cancelRestart(rec.id);
      rec.manuallyStopped = false;
      await this.launcher.launch(rec);
    });
  }

  async wait(ref: string, condition: WaitCondition = "not-running", signal?: AbortSignal): Promise<WaitResult> {
    return this.supervision.wait(this.get(ref), condition, signal);
  }

  /**
   * Sends the stop signal, waits up to the timeout, then SIGKILL. The signals are state changes
   * (serialized); the wait between them is not, so a `kill` during a long grace period acts at once.
   */
  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const id = this.get(ref).id;
    const begun = await this.changes.run(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status === "restarting") {
        rec.manuallyStopped = true;
        this.supervision.cancelRestart(rec.id);
        return null;
      }
      if (!isRunning(rec)) throw new ContainerError(`container ${rec.id} is not running`, "NOT_MODIFIED");
      rec.manuallyStopped = true;
      this.store.save(rec);
      const exited = this.supervision.wait(rec, "not-running");
      this.supervision.holdPolicy(rec.id);
      try {
        await this.signal(rec, signalName(signal ?? rec.stopSignal));
      } catch (e) {
        this.supervision.releasePolicy(rec.id);
        throw e;
      }
      return { rec, exited };
    });
    if (!begun) return;
    const { rec, exited } = begun;
    const t = timeoutSeconds ?? rec.config.StopTimeout ?? 10;
    try {
      const exitedInTime = exited.then(() => true);
      const inTime = t < 0 ? await exitedInTime : await Promise.race([exitedInTime, sleep(t * 1000).then(() => false)]);
      if (!inTime) {
        await this.changes.run(id, async () => {
          if (isRunning(this.store.get(id) ?? rec)) await this.signal(rec, "SIGKILL");
        });
        await exited;
      }
    } finally {
      this.supervision.releasePolicy(rec.id);
    }
    this.event("stop", rec);
  }

  /** Sends a signal to the container's init; a paused container is thawed so it can act on it. */
  private async signal(rec: ContainerRecord, sig: string): Promise<void> {
    try {
      await this.runc.for(rec.id).kill(rec.id, sig, sig === "SIGKILL");
    } catch (e) {
      // It may have exited between our check and the signal; the exit handler records that.
      if (!(e instanceof RuntimeError && GONE.test(e.message))) throw e;
    }
    this.event("kill", rec, { signal: sig.replace(/^SIG/, "") });
    if (rec.state.Status === "paused") {
      await this.runc
        .for(rec.id)
        .resume(rec.id)
        .catch(() => undefined);
      this.supervision.resumed(rec);
    }
  }

  /**
   * Sends a signal. A SIGKILL returns once the container has stopped, as dockerd's does, so its
   * exit code is there when the caller looks (bounded: a process stuck in the kernel may linger).
   */
  async kill(ref: string, signal = "SIGKILL"): Promise<void> {
    const id = this.get(ref).id;
    const sig = signalName(signal);
    await this.changes.run(id, async () => {
      const rec = this.get(id);
      if (!isRunning(rec)) throw notRunning(rec.id);
      rec.manuallyStopped = true;
      this.store.save(rec);
      await this.signal(rec, sig);
    });
    if (sig !== "SIGKILL" && sig !== "9") return;
    const rec = this.store.get(id);
    if (rec && isRunning(rec)) await this.supervision.wait(rec, "not-running", AbortSignal.timeout(KILL_WAIT_MS)).catch(() => undefined);
  }

  async restart(ref: string, timeoutSeconds?: number): Promise<void> {
    const id = this.get(ref).id;
    if (isRunning(this.get(id))) await this.stop(id, timeoutSeconds);
    await this.changes.run(id, async () => {
      const rec = this.get(id);
      this.supervision.cancelRestart(rec.id);
      rec.manuallyStopped = false;
      // Another change may have started it meanwhile: then it is running, as asked.
      if (!isRunning(rec)) await this.launcher.launch(rec);
      this.event("restart", rec);
    });
  }

  async pause(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.changes.run(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status === "paused") throw new ContainerError(`Container ${rec.id} is already paused`, "CONFLICT");
      if (rec.state.Status !== "running") throw notRunning(rec.id);
      await this.runc.for(rec.id).pause(rec.id);
      this.supervision.paused(rec);
      this.event("pause", rec);
    });
  }

  async unpause(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.changes.run(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status !== "paused") throw new ContainerError(`Container ${rec.id} is not paused`, "CONFLICT");
      await this.runc.for(rec.id).resume(rec.id);
      this.supervision.resumed(rec);
      this.event("unpause", rec);
    });
  }

  // ---------------------------------------------------------------- remove, rename, update

  /** Deletes a removed container's writable layer, or keeps it as a committed snapshot. */
  private async releaseLayer(id: string, keepAs: string | undefined): Promise<void> {
    const key = this.paths.snapshotKey(id);
    if (keepAs) {
      try {
        await this.o.snapshots.commit(keepAs, key);
        return;
      } catch (e) {
        // The same layer on the same parent is there already (an earlier build): this copy goes.
        if (!(e instanceof SnapshotExistsError)) throw e;
      }
    }
    await this.o.snapshots.remove(key).catch((e: unknown) => {
      if (!(e instanceof SnapshotNotFoundError)) throw e;
    });
  }

  /**
   * `keepLayerAs`: the container's writable layer is not deleted but committed as that snapshot
   * (a build step's layer, by its chain ID), so that recording the image unpacks nothing again.
   */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<void> {
    const id = this.get(ref).id;
    await this.changes.run(id, () => this.removeNow(id, opts));
  }

  private async removeNow(id: string, opts: RemoveOptions): Promise<void> {
    const rec = this.store.get(id);
    // Removed by a change queued before this one: done, as asked.
    if (!rec || rec.state.Status === "removing") return;
    const advice = "stop the container before removing or force remove";
    // Between two runs of its restart policy a container is still in use, as dockerd sees it.
    if (rec.state.Status === "restarting" && !opts.force) {
      throw new ContainerError(`cannot remove container "/${rec.name}": container is restarting: ${advice}`, "CONFLICT");
    }
    if (isRunning(rec)) {
      if (!opts.force) {
        throw new ContainerError(`cannot remove container "/${rec.name}": container is running: ${advice}`, "CONFLICT");
      }
      this.supervision.holdPolicy(rec.id);
      try {
        const exited = this.supervision.wait(rec, "not-running");
        await this.signal(rec, "SIGKILL");
        // SIGKILL cannot be ignored; if no exit shows up the supervisor is gone, and the runtime's
        // forced delete below takes the container down regardless.
        await Promise.race([exited, sleep(KILL_WAIT_MS)]);
      } finally {
        this.supervision.releasePolicy(rec.id);
      }
    }
    this.supervision.cancelRestart(rec.id);
    this.supervision.removing(rec);
    await deleteFromRuntime(this.runc.for(rec.id), rec.id);
    await unmountRootfs(this.paths.rootfs(rec.id));
    await releaseShm(this.paths, rec);
    await releaseTaskFiles(this.paths, rec);
    await this.releaseLayer(rec.id, opts.keepLayerAs);
    rmSync(this.paths.exitFile(rec.id), { force: true });
    this.store.delete(rec.id);
    this.attachHub.drop(rec.id);
    if (opts.volumes) removeAnonymousVolumes(rec.mounts, this.o.volumes);
    this.event("destroy", rec);
    this.supervision.removed(rec);
  }

  rename(ref: string, newName: string): void {
    const rec = this.get(ref);
    const name = newName.replace(/^\//, "");
    if (!ContainerNameSchema.safeParse(name).success) {
      throw new ContainerError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, "INVALID");
    }
    if (name === rec.name) throw new ContainerError(`Renaming a container with the same name as its current name`, "CONFLICT");
    this.names.checkFree(name, "rename");
    const oldName = rec.name;
    rec.name = name;
    this.store.save(rec);
    this.event("rename", rec, { oldName: `/${oldName}` });
  }

  /**
   * `docker rm --link PARENT/ALIAS` (dockerd's rmLink): drops that legacy link from PARENT's
   * HostConfig.Links. The linked container stays; PARENT's next start is without the link.
   */
  removeLink(ref: string, alias: string): void {
    const rec = this.get(ref);
    const links = rec.config.HostConfig.Links ?? [];
    const at = parseLinks(links).findIndex((l) => l.alias === alias);
    if (at < 0) throw noSuchContainer(`${ref}/${alias}`);
    rec.config = { ...rec.config, HostConfig: { ...rec.config.HostConfig, Links: links.filter((_, i) => i !== at) } };
    this.store.save(rec);
  }

  /** Changes limits (and the restart policy) of a container; a running one gets them at once. */
  async update(ref: string, changes: z.input<typeof HostConfigSchema>): Promise<{ Warnings: string[] }> {
    const id = this.get(ref).id;
    return this.changes.run(id, async () => {
      const rec = this.get(id);
      const parsed = HostConfigSchema.parse(changes);
      const next: HostConfig = { ...rec.config.HostConfig, ...parsed };
      let res: Record<string, unknown>;
      try {
        res = resources(next);
      } catch (e) {
        if (e instanceof SpecError) throw new ContainerError(e.message, "INVALID");
        throw e;
      }
      if (isRunning(rec)) await this.runc.for(rec.id).update(rec.id, res);
      rec.config = { ...rec.config, HostConfig: next };
      this.store.save(rec);
      this.event("update", rec);
      return { Warnings: [] };
    });
  }

  // ---------------------------------------------------------------- stdio (stdio.ts), processes

  /** Attaches to the container's stdio: at once when it runs, else from its next start (so attach, then start, misses nothing). */
  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    return this.stdio.attach(this.get(ref), opts);
  }
  /** Resizes the terminal of a running TTY container. */
  resize(ref: string, rows: number, cols: number): void {
    this.stdio.resize(this.get(ref), rows, cols);
  }
  logs(ref: string, opts: LogOptions = {}): AsyncGenerator<LogEntry> {
    return this.stdio.logs(this.get(ref), opts);
  }
  /** The same lines in batches, each line with its cursor (for the control plane's log streams). */
  logBatches(ref: string, opts: LogOptions = {}): AsyncGenerator<LogEntry[]> {
    return this.stdio.logBatches(this.get(ref), opts);
  }

  /** `docker top`: the container's processes. */
  async top(ref: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.get(ref);
    if (!isRunning(rec)) throw notRunning(rec.id);
    return topProcesses(await this.runc.for(rec.id).pids(rec.id));
  }

  // ---------------------------------------------------------------- networks (network-attachment.ts)

  /** `docker network connect`: a running container gets its interface at once, a stopped one at its next start. */
  connect(networkRef: string, ref: string, req: EndpointRequest = {}): Promise<void> {
    return this.network.connect(networkRef, ref, req);
  }
  disconnect(networkRef: string, ref: string, force = false): Promise<void> {
    return this.network.disconnect(networkRef, ref, force);
  }
  endpointsOn(networkId: string): Array<{ containerId: string; name: string; endpoint: Endpoint }> {
    return this.network.endpointsOn(networkId);
  }
  publishedPorts(): RulePort[] {
    return this.network.publishedPorts();
  }

  // ---------------------------------------------------------------- stats (stats.ts)

  /** One stats sample in Docker's shape; pass the previous sample to get CPU deltas (precpu_stats). */
  async stats(ref: string, previous?: ContainerStats): Promise<NamedStats> {
    return this.statsReader.read(this.get(ref), previous);
  }
  /** A sample at once, then one a second, each with the previous one's CPU figures; ends when the container goes. */
  async *statsStream(ref: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<NamedStats> {
    yield* this.statsReader.stream(this.get(ref).id, opts);
  }
  statsCounters(): { at: number; containers: StatsReport["containers"] } {
    return this.statsReader.counters();
  }
  lastStats(ref: string, maxAgeMs = 2_500): Sampled<NamedStats> | undefined {
    return this.statsReader.last(this.get(ref).id, maxAgeMs);
  }
  wantStats(): void {
    this.statsReader.want();
  }

  // ---------------------------------------------------------------- views (views.ts)

  private get viewContext(): ViewContext {
    const find = (ref: string) => {
      const r = this.store.find(ref);
      return r === "ambiguous" ? undefined : r;
    };
    return { paths: this.paths, networks: this.o.networks, find };
  }

  /** Docker's /containers/json entries, newest first. */
  list(opts: { all?: boolean } = {}): ContainerSummary[] {
    const ctx = this.viewContext;
    const now = Date.now();
    return this.store
      .all()
      .filter((r) => opts.all || isRunning(r))
      .sort((a, b) => b.created.localeCompare(a.created))
      .map((r) => containerSummary(r, ctx, now));
  }

  /** Docker's /containers/{id}/json. */
  inspect(ref: string): ContainerInspect {
    return containerInspect(this.get(ref), this.viewContext);
  }
}
