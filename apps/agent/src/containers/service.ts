import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ContainerConfigSchema, ContainerNameSchema, HostConfigSchema, type ContainerConfig, type HostConfig, type StatsReport } from "@berth/protocol";
import type { z } from "zod";
import type { ImageService } from "../images/service.ts";
import { mountAll, unmount, warmMountHelper, type Snapshotter } from "../snapshots/index.ts";
import { createWithConmon } from "../runtime/conmon.ts";
import { resolveBinary } from "../runtime/binaries.ts";
import { Runc, RuntimeError } from "../runtime/runc.ts";
import { buildSpec, resources, SpecError, type OciMount } from "../runtime/spec.ts";
import { resolveUser, UserResolutionError } from "../runtime/users.ts";
import { readLogBatches, readLogs, type LogEntry, type ReadLogsOptions } from "../logs/k8s-file.ts";
import { LogConfigError, logRotationOf } from "../logs/rotation.ts";
import { LogKeepers } from "../logs/log-keepers.ts";
import { CONMON_CTL, sendConmonControl } from "../runtime/conmon.ts";
import { AttachHub, type AttachOptions, type AttachSession } from "./attach.ts";
import { readContainerStats, systemCpuUsage, type ContainerStats } from "../stats/cgroup-stats.ts";
import { StatsSampler, type Sampled } from "../stats/sampler.ts";
import { containerCounters } from "../stats/host-report.ts";
import { topProcesses } from "../stats/top.ts";
import { ContainerError, noSuchContainer, notRunning } from "./errors.ts";
import type { EventLog } from "./events.ts";
import { humanDuration } from "./human-duration.ts";
import { generateName } from "./names.ts";
import { newState, ZERO_TIME, type ContainerRecord, type HealthcheckConfig } from "./record.ts";
import { nextRestartDelay, shouldRestart } from "./restart-policy.ts";
import { ContainerStore } from "./store.ts";
import { ociMounts, planMounts, prepareMounts, type MountPoint } from "./mounts.ts";
import type { VolumeService } from "../volumes/service.ts";
import { NetworkError, type Endpoint, type EndpointRequest, type NetworkRecord, type NetworkService } from "../network/service.ts";
import { PortError, requestedPorts } from "../network/ports.ts";
import { NetworkCommandError } from "../network/ip.ts";
import type { RulePort } from "../network/nft-rules.ts";

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

export type WaitCondition = "not-running" | "next-exit" | "removed";

interface Waiter {
  condition: WaitCondition;
  resolve: (r: { StatusCode: number; Error: { Message: string } | null }) => void;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const signalName = (s: string) => (/^\d+$/.test(s) ? s : s.toUpperCase().startsWith("SIG") ? s.toUpperCase() : `SIG${s.toUpperCase()}`);

function nofileHardLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard && /^\d+$/.test(hard)) return Math.min(Number(hard), 1_048_576);
  } catch {
    // fall through
  }
  return 1024;
}

/** A PID file another process writes; waits briefly for it (0 when it never shows up). */
async function readPidFile(path: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    try {
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0) return pid;
    } catch {
      // not written yet
    }
    await sleep(20);
  }
  return 0;
}

/** Whether `path` is a mount point, from the kernel's table (cheaper than running umount to find out). */
function isMountPoint(path: string): boolean {
  try {
    const escaped = path.replace(/\\/g, "\\134").replace(/ /g, "\\040").replace(/\t/g, "\\011").replace(/\n/g, "\\012");
    return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === escaped);
  } catch {
    return true;
  }
}

/** Whether `pid` is a live conmon (a zombie left by a kill is not). */
function isConmon(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ...": comm may contain spaces, so read around the last parenthesis.
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return comm === "conmon" && state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The create config's health check over the image's, field by field as Docker merges them; NONE disables. */
function effectiveHealthcheck(own: ContainerConfig["Healthcheck"], fromImage: unknown): HealthcheckConfig | null {
  const img = (fromImage && typeof fromImage === "object" ? fromImage : {}) as Partial<HealthcheckConfig>;
  const test = own?.Test?.length ? own.Test : Array.isArray(img.Test) ? img.Test : [];
  if (test.length === 0 || test[0] === "NONE") return null;
  const pick = (k: "Interval" | "Timeout" | "Retries" | "StartPeriod") => own?.[k] || (typeof img[k] === "number" ? img[k] : undefined);
  const out: HealthcheckConfig = { Test: test };
  for (const k of ["Interval", "Timeout", "Retries", "StartPeriod"] as const) {
    const v = pick(k);
    if (v) out[k] = v;
  }
  return out;
}

/** Merges env lists by key; later lists win, as Docker merges the image's env with the create config's. */
function mergeEnv(...lists: Array<readonly string[] | null | undefined>): string[] {
  const out = new Map<string, string>();
  for (const list of lists) for (const e of list ?? []) out.set(e.split("=", 1)[0]!, e);
  return [...out.values()];
}

/**
 * Containers on this host: created from an image into an overlay snapshot, run by the OCI
 * runtime under one conmon each, so they outlive the agent. State is persisted per container;
 * on start-up the agent re-adopts running containers and records exits it missed.
 */
export class ContainerService {
  readonly store: ContainerStore;
  readonly runc: Runc;
  private readonly exitDir: string;
  private readonly conmonBin: string;
  private readonly cgroupParent: string;
  private readonly nofileHard = nofileHardLimit();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly exiting = new Map<string, Promise<void>>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** The tail of each container's queue of state changes (see `serial`). */
  private readonly changes = new Map<string, Promise<void>>();
  /** Names taken by creates still under way: two creates of one name cannot both pass the check. */
  private readonly reservedNames = new Set<string>();
  private readonly restartDelay = new Map<string, number>();
  /** Rotates the logs of running containers with a max-size (on a worker thread). */
  private readonly logKeepers = new LogKeepers();
  private readonly attachHub = new AttachHub();
  /** The one reader of containers' stats: streams, the control plane's report and one-shot requests share its rounds. */
  private readonly statsSampler = new StatsSampler(
    () => this.store.all().filter((r) => this.isRunning(r)).map((r) => r.id),
    (id, system) => this.sampleStats(id, system),
  );
  /** Containers whose exit is being handled by stop/remove: no restart policy, no auto-remove. */
  private readonly suppressPolicy = new Set<string>();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: ContainerServiceOptions) {
    this.store = new ContainerStore(join(o.stateDir, "containers"));
    this.runc = new Runc(resolveBinary(o.runtime ?? "runc"), join(o.stateDir, "runc"));
    this.exitDir = join(o.stateDir, "exits");
    mkdirSync(this.exitDir, { recursive: true, mode: 0o700 });
    mkdirSync(join(o.stateDir, "sockets"), { recursive: true, mode: 0o700 });
    this.conmonBin = resolveBinary(o.conmon ?? "conmon");
    this.cgroupParent = o.cgroupParent ?? "/berth";
  }

  /** Starts exit monitoring and re-adopts what was running before this agent started. */
  async init(): Promise<void> {
    warmMountHelper();
    // Snapshot directories a crash left behind (removed snapshots are deleted in the background).
    void this.o.snapshots.cleanup().catch(() => undefined);
    // conmon writes exits/<id> when a container exits; a watch reacts at once, the poll catches missed events.
    this.watcher = watch(this.exitDir, (_event, file) => {
      if (file && this.store.get(file)) void this.onExitFile(file);
    });
    for (const rec of this.store.all()) await this.adopt(rec);
    this.poller = setInterval(() => this.pollExits(), 1000);
    this.poller.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.allSettled([...this.exiting.values()]);
    await this.logKeepers.close();
    this.statsSampler.close();
    await this.o.snapshots.settled();
  }

  // ---------------------------------------------------------------- paths

  private dir(id: string) {
    return this.store.dir(id);
  }
  bundle(id: string) {
    return join(this.dir(id), "bundle");
  }
  rootfs(id: string) {
    return join(this.bundle(id), "rootfs");
  }
  /** Where attach and console sockets go (short paths: unix sockets allow 108 bytes). */
  get socketsDir() {
    return join(this.o.stateDir, "sockets");
  }
  logPath(id: string) {
    return join(this.dir(id), "container.log");
  }
  /** The container's writable layer (what `docker diff`, `system df` and commit read). */
  upperDir(ref: string): Promise<string> {
    return this.o.snapshots.upperDir(this.snapshotKey(this.get(ref).id));
  }

  private snapshotKey(id: string) {
    return `container-${id}`;
  }

  // ---------------------------------------------------------------- lookup

  get(ref: string): ContainerRecord {
    const r = this.store.find(ref);
    if (r === "ambiguous") throw new ContainerError(`Multiple IDs found with provided prefix: ${ref}`, "INVALID");
    if (!r) throw noSuchContainer(ref);
    return r;
  }

  isRunning(rec: ContainerRecord): boolean {
    return rec.state.Status === "running" || rec.state.Status === "paused";
  }

  /** Whether any container (running or not) uses the image: images in use are not removed. */
  usesImage(imageId: string): boolean {
    return this.store.all().some((r) => r.image === imageId);
  }

  private event(action: string, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.o.events.emit("container", action, rec.id, { image: rec.imageName, name: rec.name, ...(rec.config.Labels ?? {}), ...extra });
  }

  // ---------------------------------------------------------------- create

  /** `bindPrefixes`: the team's container policy limits bind sources to these host paths (links resolved). */
  async create(input: z.input<typeof ContainerConfigSchema>, name?: string, opts: { bindPrefixes?: string[] } = {}): Promise<{ Id: string; Warnings: string[] }> {
    const config = ContainerConfigSchema.parse(input);
    if (name !== undefined && name !== "") {
      const parsed = ContainerNameSchema.safeParse(name);
      if (!parsed.success) throw new ContainerError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, "INVALID");
    }
    const wanted = name ? name.replace(/^\//, "") : undefined;
    if (wanted) {
      const other = this.store.all().find((r) => r.name === wanted);
      if (other) throw this.nameConflict(wanted, other.id);
      if (this.reservedNames.has(wanted)) throw new ContainerError(`Conflict. The container name "/${wanted}" is being used by a container being created; you have to remove (or rename) that container to be able to reuse that name.`, "CONFLICT");
    }
    // Taken before the first await and given back when the record is saved (or the create fails).
    if (wanted) this.reservedNames.add(wanted);
    try {
      return await this.createNamed(config, wanted, opts);
    } finally {
      if (wanted) this.reservedNames.delete(wanted);
    }
  }

  private async createNamed(config: ContainerConfig, wanted: string | undefined, opts: { bindPrefixes?: string[] }): Promise<{ Id: string; Warnings: string[] }> {
    const img = this.o.images.resolve(config.Image);
    const imgCfg = (await this.o.images.config(img)).config ?? {};

    const entrypoint = config.Entrypoint ?? imgCfg.Entrypoint ?? [];
    // Docker drops the image's Cmd when the create config sets its own Entrypoint.
    const cmd = config.Cmd ?? (config.Entrypoint ? [] : (imgCfg.Cmd ?? []));
    const argv = [...entrypoint, ...cmd];
    if (argv.length === 0) throw new ContainerError("no command specified", "INVALID");
    const workingDir = config.WorkingDir || imgCfg.WorkingDir || "/";
    if (!workingDir.startsWith("/")) throw new ContainerError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`, "INVALID");

    const id = randomBytes(32).toString("hex");
    const hostname = config.Hostname || id.slice(0, 12);
    const host = config.HostConfig;
    const network = this.networkOf(host);
    // Build the spec once now, so bad limits, capabilities or options fail the create, not the start.
    try {
      buildSpec({ args: argv, env: [], cwd: workingDir, user: { uid: 0, gid: 0, additionalGids: [], home: "/" }, hostname, tty: false, host, cgroupsPath: "/", network, mounts: [], nofileHard: this.nofileHard, ...(this.o.initPath ? { initPath: this.o.initPath } : {}) });
      logRotationOf(host.LogConfig);
    } catch (e) {
      if (e instanceof SpecError || e instanceof LogConfigError) throw new ContainerError(e.message, "INVALID");
      throw e;
    }

    const finalName = wanted ?? generateName((n) => this.reservedNames.has(n) || this.store.all().some((r) => r.name === n));
    const top = img.layers[img.layers.length - 1]?.chainId;
    const networks = this.requestedNetworks(config);
    try {
      const ports = requestedPorts(config.HostConfig, []);
      if (ports.length && !networks) throw new ContainerError(`published ports need a bridge network; network mode ${config.HostConfig.NetworkMode || "none"} has none`, "INVALID");
    } catch (e) {
      if (e instanceof PortError) throw new ContainerError(e.message, "INVALID");
      throw e;
    }
    const mounts = planMounts(config, imgCfg.Volumes ?? undefined, this.o.volumes, opts.bindPrefixes);
    mkdirSync(this.dir(id), { recursive: true, mode: 0o700 });
    try {
      await this.o.snapshots.prepare(this.snapshotKey(id), top);
    } catch (e) {
      rmSync(this.dir(id), { recursive: true, force: true });
      this.removeAnonymousVolumes(mounts);
      throw e;
    }
    const rec: ContainerRecord = {
      id,
      name: finalName,
      created: new Date().toISOString(),
      config: { ...config, Labels: { ...(imgCfg.Labels ?? {}), ...(config.Labels ?? {}) } },
      image: img.id,
      imageName: config.Image,
      path: argv[0]!,
      args: argv.slice(1),
      env: mergeEnv([DEFAULT_PATH], imgCfg.Env, config.Env),
      workingDir,
      user: config.User ?? imgCfg.User ?? "",
      stopSignal: signalName(config.StopSignal ?? imgCfg.StopSignal ?? "SIGTERM"),
      healthcheck: effectiveHealthcheck(config.Healthcheck ?? null, imgCfg.Healthcheck),
      hostname,
      state: newState(),
      restartCount: 0,
      manuallyStopped: false,
      conmonPid: 0,
      mounts,
      ...(networks ? { networks } : {}),
      exposedPorts: [...new Set([...Object.keys(imgCfg.ExposedPorts ?? {}), ...Object.keys(config.ExposedPorts ?? {})].map((p) => (p.includes("/") ? p : `${p}/tcp`)))],
    };
    this.store.save(rec);
    this.event("create", rec);
    return { Id: id, Warnings: [] };
  }

  private nameConflict(name: string, id: string): ContainerError {
    return new ContainerError(`Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`, "CONFLICT");
  }

  /** `host` shares the agent's network namespace; anything else gets its own (bridge endpoints are plumbed into it). */
  private networkOf(host: HostConfig): "host" | "private" {
    return host.NetworkMode === "host" ? "host" : "private";
  }

  /**
   * The bridge networks a new container joins, by network ID: NetworkMode's (`bridge` when
   * networking is on and none is given), with the endpoint settings asked for on it. null for
   * `host` and `none`.
   */
  private requestedNetworks(config: ContainerConfig): Record<string, EndpointRequest> | null {
    const mode = config.HostConfig.NetworkMode || (this.o.networks ? "bridge" : "none");
    if (mode === "host" || mode === "none") {
      if (Object.keys(config.NetworkingConfig?.EndpointsConfig ?? {}).some((k) => k !== mode)) throw new ContainerError(`container cannot be connected to other networks with network mode ${mode}`, "INVALID");
      return null;
    }
    if (mode.startsWith("container:")) throw new ContainerError("sharing another container's network namespace (container:…) is not supported yet", "INVALID");
    if (!this.o.networks) throw new ContainerError(`network ${mode} not found: bridge networking is not enabled on this agent`, "NOT_FOUND");
    const out: Record<string, EndpointRequest> = {};
    const add = (ref: string, req: EndpointRequest) => {
      const net = this.network(this.o.networks!, ref);
      if (net.Driver !== "bridge") throw new ContainerError(`container cannot be connected to network ${net.Name} and another network`, "INVALID");
      checkEndpointRequest(net, req);
      out[net.Id] = req;
    };
    const endpoints = config.NetworkingConfig?.EndpointsConfig ?? {};
    add(mode, endpoints[mode] ?? {});
    for (const [ref, req] of Object.entries(endpoints)) if (ref !== mode) add(ref, req);
    return out;
  }

  /** A network by name, ID or ID prefix, its errors as the container layer's. */
  private network(nets: NetworkService, ref: string): NetworkRecord {
    try {
      return nets.get(ref);
    } catch (e) {
      throw asContainerError(e);
    }
  }

  /** Addresses on every network of the container, before its start (they go in its /etc/hosts). */
  private allocateEndpoints(rec: ContainerRecord): Endpoint[] {
    const nets = this.o.networks;
    if (!nets || !rec.networks) return [];
    const endpoints: Endpoint[] = [];
    try {
      for (const [netId, req] of Object.entries(rec.networks)) endpoints.push(nets.allocate(netId, rec.id, req, `eth${endpoints.length}`, rec.name));
    } catch (e) {
      for (const ep of endpoints) nets.release(ep);
      throw asContainerError(e);
    }
    return endpoints;
  }

  private async releaseEndpoints(rec: ContainerRecord): Promise<void> {
    const icc = Object.values(rec.endpoints ?? {}).some((e) => this.o.networks?.iccOff(e.NetworkID));
    for (const ep of Object.values(rec.endpoints ?? {})) this.o.networks?.release(ep);
    rec.endpoints = {};
    const ports = rec.ports?.length ?? 0;
    if (ports) {
      this.o.networks?.releasePorts(rec.ports!);
      rec.ports = [];
    }
    // Its DNAT and ICC rules go with it (rendered from the running containers, which it no longer is).
    if (ports || icc) await this.o.networks?.applyRules().catch(() => undefined);
  }

  /** Every starting or running container's published ports, with the address each forwards to (for the nftables rules). */
  publishedPorts(): RulePort[] {
    return this.store.all().flatMap((r) => {
      // A container holds ports from just before its start until its exit (its DNAT goes live before it runs).
      if (!r.ports?.length) return [];
      const ep = Object.values(r.endpoints ?? {}).find((e) => !this.o.networks?.all().find((n) => n.Id === e.NetworkID)?.Internal);
      if (!ep) return [];
      return r.ports.map((p) => ({ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: ep.IPAddress, containerPort: p.containerPort }));
    });
  }

  /**
   * Connects a container to a bridge network (`docker network connect`): a running one gets its
   * interface at once (hot-plugged veth), a stopped one at its next start.
   */
  async connect(networkRef: string, ref: string, req: EndpointRequest = {}): Promise<void> {
    const nets = this.o.networks;
    if (!nets) throw new ContainerError("bridge networking is not enabled on this agent", "INVALID");
    const rec = this.get(ref);
    if (!rec.networks) throw new ContainerError(`container cannot be connected to other networks with network mode ${rec.config.HostConfig.NetworkMode || "none"}`, "INVALID");
    const net = this.network(nets, networkRef);
    if (net.Driver !== "bridge") throw new ContainerError(`container cannot be connected to network ${net.Name}`, "INVALID");
    if (rec.networks[net.Id]) throw new ContainerError(`endpoint with name ${rec.name} already exists in network ${net.Name}`, "CONFLICT");
    checkEndpointRequest(net, req);
    if (this.isRunning(rec)) {
      const used = new Set(Object.values(rec.endpoints ?? {}).map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      let ep: Endpoint;
      try {
        ep = nets.allocate(net.Id, rec.id, req, `eth${n}`, rec.name);
      } catch (e) {
        throw asContainerError(e);
      }
      try {
        const routed = Object.values(rec.endpoints ?? {}).some((e) => !nets.all().find((x) => x.Id === e.NetworkID)?.Internal);
        await nets.plumb(rec.state.Pid, [ep], { hasDefaultRoute: routed });
      } catch (e) {
        nets.release(ep);
        throw new ContainerError(`could not connect container ${rec.name} to network ${net.Name}: ${(e as Error).message}`, "FAILED");
      }
      rec.endpoints = { ...rec.endpoints, [net.Id]: ep };
      if (nets.iccOff(net.Id)) await nets.applyRules();
    }
    rec.networks = { ...rec.networks, [net.Id]: req };
    this.store.save(rec);
  }

  /** Disconnects a container from a network; a running one loses the interface at once. */
  async disconnect(networkRef: string, ref: string): Promise<void> {
    const nets = this.o.networks;
    if (!nets) throw new ContainerError("bridge networking is not enabled on this agent", "INVALID");
    const rec = this.get(ref);
    const net = this.network(nets, networkRef);
    if (!rec.networks?.[net.Id]) throw new ContainerError(`container ${rec.id} is not connected to network ${net.Name}`, "CONFLICT");
    const ep = rec.endpoints?.[net.Id];
    if (ep) {
      await nets.unplumb(ep);
      nets.release(ep);
      const { [net.Id]: _gone, ...rest } = rec.endpoints!;
      rec.endpoints = rest;
      if (nets.iccOff(net.Id)) await nets.applyRules();
    }
    const { [net.Id]: _req, ...others } = rec.networks;
    rec.networks = others;
    this.store.save(rec);
  }

  /** Containers with an endpoint on a network now (for network inspect and the in-use check). */
  endpointsOn(networkId: string): Array<{ containerId: string; name: string; endpoint: Endpoint }> {
    return this.store
      .all()
      // Endpoints exist from just before a start until the exit.
      .flatMap((r) => (r.endpoints?.[networkId] ? [{ containerId: r.id, name: r.name, endpoint: r.endpoints[networkId] }] : []));
  }

  // ---------------------------------------------------------------- start

  /**
   * One state change at a time per container: start, stop, restart, kill, pause, unpause, update,
   * remove and the restart policy's launches each wait for the one before. Twenty starts at once
   * make one run; the others find it running.
   */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.changes.get(id) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.changes.set(id, tail);
    void tail.then(() => {
      if (this.changes.get(id) === tail) this.changes.delete(id);
    });
    return run;
  }

  async start(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.serial(id, () => this.startNow(id));
  }

  private async startNow(id: string): Promise<void> {
    const rec = this.get(id);
    if (rec.state.Status === "running") throw new ContainerError(`container ${rec.id} is already running`, "NOT_MODIFIED");
    if (rec.state.Status === "paused") throw new ContainerError(`cannot start a paused container, try unpause instead`, "CONFLICT");
    if (rec.state.Status === "removing") throw new ContainerError(`container ${rec.id} is marked for removal and cannot be started`, "CONFLICT");
    this.cancelRestart(rec.id);
    rec.manuallyStopped = false;
    await this.launch(rec);
  }

  private async launch(rec: ContainerRecord): Promise<void> {
    const { id } = rec;
    const bundle = this.bundle(id);
    const rootfs = this.rootfs(id);
    mkdirSync(rootfs, { recursive: true });
    // Leftovers of an earlier run: runtime state, exit files, a stale mount.
    await this.deleteFromRuntime(id);
    rmSync(join(this.exitDir, id), { force: true });
    const persist = join(this.dir(id), "persist");
    rmSync(persist, { recursive: true, force: true });
    mkdirSync(persist, { recursive: true });
    if (isMountPoint(rootfs)) await unmount(rootfs).catch(() => undefined);
    await mountAll(await this.o.snapshots.mounts(this.snapshotKey(id)), rootfs);
    try {
      const user = await resolveUser(rootfs, rec.user);
      const host = rec.config.HostConfig;
      const network = this.networkOf(host);
      const endpoints = this.allocateEndpoints(rec);
      rec.endpoints = Object.fromEntries(endpoints.map((e) => [e.NetworkID, e]));
      if (endpoints.length) {
        try {
          rec.ports = await this.o.networks!.reservePorts(requestedPorts(host, rec.exposedPorts ?? []));
        } catch (e) {
          if (e instanceof NetworkError) throw new ContainerError(`driver failed programming external connectivity on endpoint ${rec.name}: ${e.message}`, "CONFLICT");
          throw e;
        }
      }
      const etc = this.writeEtcFiles(rec, network);
      if (await prepareMounts(rec.mounts ?? [], rootfs, this.o.volumes)) this.store.save(rec);
      const env = mergeEnv([`HOSTNAME=${rec.hostname}`], rec.config.Tty ? ["TERM=xterm"] : [], rec.env);
      if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);
      const spec = buildSpec({
        args: [rec.path, ...rec.args],
        env,
        cwd: rec.workingDir,
        user,
        hostname: rec.hostname,
        tty: Boolean(rec.config.Tty),
        host,
        cgroupsPath: `${this.cgroupParent}/${id}`,
        network,
        mounts: [...etc, ...ociMounts(rec.mounts ?? [])],
        nofileHard: this.nofileHard,
        ...(this.o.initPath ? { initPath: this.o.initPath } : {}),
      });
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      const conmonPidFile = join(this.dir(id), "conmon.pid");
      if (logRotationOf(host.LogConfig)) await this.logKeepers.ready();
      // The previous run's file would name a dead conmon, and the supervisor check would act on it.
      rmSync(conmonPidFile, { force: true });
      const { pid } = await createWithConmon({
        conmon: this.conmonBin,
        runtime: this.runc.binary,
        runtimeRoot: this.runc.root,
        id,
        name: rec.name,
        bundle,
        exitDir: this.exitDir,
        persistDir: persist,
        logPath: this.logPath(id),
        pidFile: join(this.dir(id), "container.pid"),
        conmonPidFile,
        socketDir: join(this.o.stateDir, "sockets"),
        conmonLog: join(this.dir(id), "conmon.log"),
        tty: Boolean(rec.config.Tty),
        stdin: Boolean(rec.config.OpenStdin),
        stdinOnce: Boolean(rec.config.StdinOnce),
      });
      this.keepLogs(rec);
      rec.conmonPid = await readPidFile(conmonPidFile);
      if (endpoints.length) {
        await this.o.networks!.plumb(pid, endpoints);
        // The DNAT for its ports, and ICC rules naming its veth, go live before the container runs.
        if (rec.ports?.length || endpoints.some((e) => this.o.networks!.iccOff(e.NetworkID))) await this.o.networks!.applyRules();
      }
      // Clients attached before the start see the output from its first byte.
      await this.attachHub.connectWaiting(id, bundle);
      await this.runc.start(id);
      rec.state = {
        ...rec.state,
        Status: "running",
        Pid: pid,
        ExitCode: 0,
        Error: "",
        OOMKilled: false,
        StartedAt: new Date().toISOString(),
        FinishedAt: rec.state.FinishedAt,
        ...(rec.healthcheck ? { Health: { Status: "starting" as const, FailingStreak: 0, Log: [] } } : {}),
      };
      this.store.save(rec);
      this.event("start", rec);
      // A short-lived process may have exited before it was marked running: its exit file is there already.
      if (existsSync(join(this.exitDir, id))) void this.onExitFile(id);
    } catch (e) {
      await this.releaseEndpoints(rec);
      await this.runc.delete(id, true).catch(() => undefined);
      rmSync(join(this.exitDir, id), { force: true });
      await unmount(rootfs).catch(() => undefined);
      const message = e instanceof Error ? e.message : String(e);
      // Docker's codes for a command that cannot run: 127 not found, 126 not executable.
      const code = /not found|no such file/i.test(message) ? 127 : /permission denied/i.test(message) ? 126 : 128;
      rec.state = { ...rec.state, Status: rec.state.StartedAt === ZERO_TIME ? "created" : "exited", Pid: 0, ExitCode: code, Error: message };
      this.store.save(rec);
      if (e instanceof UserResolutionError || e instanceof SpecError) throw new ContainerError(message, "INVALID");
      if (e instanceof RuntimeError || e instanceof NetworkCommandError) throw new ContainerError(`failed to start container ${id}: ${message}`, "FAILED");
      throw e;
    }
  }

  /** /etc/hostname, /etc/hosts and /etc/resolv.conf of the container, bind-mounted over the image's. */
  private writeEtcFiles(rec: ContainerRecord, network: "host" | "private"): OciMount[] {
    const d = this.dir(rec.id);
    const hostname = network === "host" ? readFileSync("/etc/hostname", "utf8").trim() || rec.hostname : rec.hostname;
    writeFileSync(join(d, "hostname"), `${hostname}\n`);
    const hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters", ""];
    // The container's own addresses name it, as Docker writes them.
    for (const ep of Object.values(rec.endpoints ?? {})) hosts.splice(hosts.length - 1, 0, `${ep.IPAddress}\t${rec.hostname}`);
    writeFileSync(join(d, "hosts"), network === "host" ? readFileSync("/etc/hosts", "utf8") : hosts.join("\n"));
    let resolv = "";
    try {
      resolv = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      resolv = "";
    }
    // A loopback resolver of the host is unreachable from a container's own netns; Docker drops it too.
    if (network !== "host") resolv = resolv.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join("\n");
    // On a user-defined network the network's embedded DNS answers (container names, then the host's resolvers).
    const first = Object.values(rec.endpoints ?? {}).sort((a, b) => a.ifname.localeCompare(b.ifname))[0];
    const embedded = first ? this.o.networks?.resolverFor(first.NetworkID) : null;
    if (embedded) resolv = [`nameserver ${embedded}`, ...resolv.split("\n").filter((l) => /^\s*search\s/.test(l)), "options ndots:0", ""].join("\n");
    writeFileSync(join(d, "resolv.conf"), resolv);
    const bind = (name: string, dest: string): OciMount => ({ destination: dest, type: "bind", source: join(d, name), options: ["rbind", "rprivate", ...(rec.config.HostConfig.ReadonlyRootfs ? ["ro"] : [])] });
    return [bind("hostname", "/etc/hostname"), bind("hosts", "/etc/hosts"), bind("resolv.conf", "/etc/resolv.conf")];
  }

  /** Starts rotating the container's log, when its LogConfig sets a max-size. */
  private keepLogs(rec: ContainerRecord): void {
    const rotation = logRotationOf(rec.config.HostConfig.LogConfig);
    if (rotation) this.logKeepers.keep(this.logPath(rec.id), join(this.bundle(rec.id), "ctl"), rotation);
  }

  /** Removes an exited container from the runtime, in-process when the runtime's state allows it. */
  private async deleteExited(id: string): Promise<void> {
    if (!existsSync(join(this.runc.root, id))) return;
    if (this.runc.deleteStopped(id)) return;
    await this.runc.delete(id, true).catch(() => undefined);
  }

  /** `runc delete --force`, skipped when the runtime holds no state for the container (each call is a process). */
  private async deleteFromRuntime(id: string): Promise<void> {
    if (!existsSync(join(this.runc.root, id))) return;
    await this.runc.delete(id, true).catch(() => undefined);
  }

  private async unmountRootfs(id: string): Promise<void> {
    const rootfs = this.rootfs(id);
    if (!isMountPoint(rootfs)) return;
    await unmount(rootfs).catch(() => unmount(rootfs, { detach: true }));
  }

  // ---------------------------------------------------------------- exits

  private pollExits(): void {
    this.logKeepers.check();
    for (const rec of this.store.all()) {
      if (!this.isRunning(rec) || this.exiting.has(rec.id)) continue;
      if (existsSync(join(this.exitDir, rec.id))) void this.onExitFile(rec.id);
      // A supervisor killed under us (OOM killer, an operator) leaves no exit file: record the loss.
      else if (rec.conmonPid > 0 && !isConmon(rec.conmonPid) && !existsSync(join(this.exitDir, rec.id))) void this.onSupervisorLost(rec.id);
    }
  }

  private onSupervisorLost(id: string): Promise<void> {
    const running = this.exiting.get(id);
    if (running) return running;
    const rec = this.store.get(id);
    if (!rec) return Promise.resolve();
    const p = this.reapOrphan(rec).finally(() => this.exiting.delete(id));
    this.exiting.set(id, p);
    return p;
  }

  /** Handles a container's exit once, however many times it is noticed. */
  private onExitFile(id: string): Promise<void> {
    const running = this.exiting.get(id);
    if (running) return running;
    const p = this.handleExit(id).finally(() => this.exiting.delete(id));
    this.exiting.set(id, p);
    return p;
  }

  private async handleExit(id: string, known?: { code: number; error?: string }): Promise<void> {
    const rec = this.store.get(id);
    if (!rec || !this.isRunning(rec)) return;
    const exitFile = join(this.exitDir, id);
    let code = known?.code;
    if (code === undefined) {
      const text = existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : "";
      // conmon writes the file once it has the status; an empty file is one still being written.
      if (!/^-?\d+$/.test(text)) return;
      code = Number(text);
    }
    const oom = existsSync(join(this.dir(id), "persist", "oom"));
    await this.logKeepers.finish(this.logPath(id));
    // Both are cleanup of a container that is gone; neither depends on the other.
    await Promise.all([this.deleteExited(id), this.unmountRootfs(id).catch(() => undefined)]);
    // `--rm`: the removal below persists the record; until then the exit file stays, so a crash in
    // between finds it at start-up and removes the container then. One fsync'd write fewer on `docker run --rm`.
    const autoRemove = rec.config.HostConfig.AutoRemove && !this.suppressPolicy.has(id) && !this.closed;
    if (!autoRemove) rmSync(exitFile, { force: true });
    const startedAt = Date.parse(rec.state.StartedAt);
    rec.state = { ...rec.state, Status: "exited", Pid: 0, ExitCode: code, OOMKilled: oom, Error: known?.error ?? "", FinishedAt: new Date().toISOString() };
    rec.conmonPid = 0;
    await this.releaseEndpoints(rec);
    if (!autoRemove) this.store.save(rec);
    if (oom) this.event("oom", rec);
    this.event("die", rec, { exitCode: String(code) });
    this.wake(id, ["not-running", "next-exit"], code);

    if (autoRemove) {
      // `--rm` takes the container's anonymous volumes with it, as Docker does.
      await this.remove(id, { force: true, volumes: true }).catch(() => {
        // Left as an exited container, as Docker leaves one whose removal failed.
        if (!this.store.get(id)) return;
        this.store.save(rec);
        rmSync(exitFile, { force: true });
      });
      return;
    }
    if (this.suppressPolicy.has(id) || this.closed) return;
    if (shouldRestart(rec.config.HostConfig, code, rec.restartCount, rec.manuallyStopped)) {
      const delay = nextRestartDelay(this.restartDelay.get(id) ?? 0, Date.now() - startedAt);
      this.restartDelay.set(id, delay);
      const pending = this.restartTimers.get(id);
      if (pending) clearTimeout(pending);
      rec.state = { ...rec.state, Status: "restarting" };
      this.store.save(rec);
      const timer = setTimeout(() => {
        this.restartTimers.delete(id);
        void this.serial(id, async () => {
          const cur = this.store.get(id);
          if (!cur || cur.state.Status !== "restarting" || this.closed) return;
          cur.restartCount++;
          await this.launch(cur).catch(() => {
          // A failed restart is a failed run: its state was recorded by launch; try again by the policy.
            const again = this.store.get(id);
            if (again && shouldRestart(again.config.HostConfig, again.state.ExitCode, again.restartCount, again.manuallyStopped)) {
              again.state = { ...again.state, Status: "running" };
              void this.handleExit(id, { code: again.state.ExitCode, error: again.state.Error });
            }
          });
        });
      }, delay);
      this.restartTimers.set(id, timer);
    }
  }

  private cancelRestart(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
    const rec = this.store.get(id);
    if (rec?.state.Status === "restarting") {
      rec.state = { ...rec.state, Status: "exited" };
      this.store.save(rec);
    }
  }

  private wake(id: string, conditions: WaitCondition[], code: number, error: string | null = null): void {
    const list = this.waiters.get(id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) {
      if (conditions.includes(w.condition)) w.resolve({ StatusCode: code, Error: error ? { Message: error } : null });
      else keep.push(w);
    }
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  /** Re-adopts a container found in the store at start-up. */
  private async adopt(rec: ContainerRecord): Promise<void> {
    if (!this.isRunning(rec) && rec.state.Status !== "restarting") return;
    if (existsSync(join(this.exitDir, rec.id))) {
      await this.onExitFile(rec.id);
      return;
    }
    if (rec.state.Status !== "restarting" && isConmon(rec.conmonPid)) {
      // Still supervised: keep it. Its state may have changed (paused/resumed by hand) while we were away.
      const st = await this.runc.state(rec.id).catch(() => null);
      if (st?.status === "paused" && rec.state.Status !== "paused") {
        rec.state = { ...rec.state, Status: "paused" };
        this.store.save(rec);
      }
      this.keepLogs(rec);
      // Its published ports are held again (the DNAT rules stayed in the kernel meanwhile).
      if (rec.ports?.length) await this.o.networks?.reservePorts(rec.ports).catch(() => undefined);
      return;
    }
    await this.onSupervisorLost(rec.id);
  }

  /**
   * The supervisor is gone (host restart, or conmon killed): whatever is left of the container is
   * stopped, and the exit is recorded as Docker does after an unclean shutdown (255).
   */
  private async reapOrphan(rec: ContainerRecord): Promise<void> {
    // conmon may have written the exit file just before it died.
    if (existsSync(join(this.exitDir, rec.id))) return this.handleExit(rec.id);
    const st = await this.runc.state(rec.id).catch(() => null);
    if (st && st.status !== "stopped") {
      await this.runc.kill(rec.id, "SIGKILL", true).catch(() => undefined);
      for (let i = 0; i < 50 && (await this.runc.state(rec.id).catch(() => null))?.status === "running"; i++) await sleep(100);
    }
    const wasRestarting = rec.state.Status === "restarting";
    rec.state = { ...rec.state, Status: "running" };
    await this.handleExit(rec.id, wasRestarting ? { code: rec.state.ExitCode, error: rec.state.Error } : { code: 255, error: "the container's supervisor (conmon) was gone, so the container was stopped" });
  }

  // ---------------------------------------------------------------- lifecycle

  async wait(ref: string, condition: WaitCondition = "not-running", signal?: AbortSignal): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const rec = this.get(ref);
    if (condition === "not-running" && !this.isRunning(rec) && rec.state.Status !== "restarting") return { StatusCode: rec.state.ExitCode, Error: null };
    return new Promise((resolve, reject) => {
      const w: Waiter = { condition, resolve };
      this.waiters.set(rec.id, [...(this.waiters.get(rec.id) ?? []), w]);
      signal?.addEventListener("abort", () => {
        this.waiters.set(rec.id, (this.waiters.get(rec.id) ?? []).filter((x) => x !== w));
        reject(new ContainerError("wait cancelled", "FAILED"));
      });
    });
  }

  /**
   * Sends the stop signal, waits up to the timeout, then SIGKILL. The signals are state changes
   * (serialized); the wait between them is not, so a `kill` during a long grace period acts at once.
   */
  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const id = this.get(ref).id;
    const begun = await this.serial(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status === "restarting") {
        rec.manuallyStopped = true;
        this.cancelRestart(rec.id);
        return null;
      }
      if (!this.isRunning(rec)) throw new ContainerError(`container ${rec.id} is not running`, "NOT_MODIFIED");
      rec.manuallyStopped = true;
      this.store.save(rec);
      const exited = this.wait(rec.id, "not-running");
      this.suppressPolicy.add(rec.id);
      try {
        await this.signal(rec, signalName(signal ?? rec.stopSignal));
      } catch (e) {
        this.suppressPolicy.delete(rec.id);
        throw e;
      }
      return { rec, exited };
    });
    if (!begun) return;
    const { rec, exited } = begun;
    const t = timeoutSeconds ?? rec.config.StopTimeout ?? 10;
    try {
      const inTime = t < 0 ? await exited.then(() => true) : await Promise.race([exited.then(() => true), sleep(t * 1000).then(() => false)]);
      if (!inTime) {
        await this.serial(id, async () => {
          if (this.isRunning(this.store.get(id) ?? rec)) await this.signal(rec, "SIGKILL");
        });
        await exited;
      }
    } finally {
      this.suppressPolicy.delete(rec.id);
    }
    this.event("stop", rec);
  }

  /** Sends a signal to the container's init; a paused container is thawed so it can act on it. */
  private async signal(rec: ContainerRecord, sig: string): Promise<void> {
    try {
      await this.runc.kill(rec.id, sig, sig === "SIGKILL");
    } catch (e) {
      // It may have exited between our check and the signal; the exit handler records that.
      if (!(e instanceof RuntimeError && /not running|does not exist|container not running|process already finished/i.test(e.message))) throw e;
    }
    this.event("kill", rec, { signal: sig.replace(/^SIG/, "") });
    if (rec.state.Status === "paused") {
      await this.runc.resume(rec.id).catch(() => undefined);
      rec.state = { ...rec.state, Status: "running" };
      this.store.save(rec);
    }
  }

  async kill(ref: string, signal = "SIGKILL"): Promise<void> {
    const id = this.get(ref).id;
    await this.serial(id, async () => {
      const rec = this.get(id);
      if (!this.isRunning(rec)) throw notRunning(rec.id);
      rec.manuallyStopped = true;
      this.store.save(rec);
      await this.signal(rec, signalName(signal));
    });
  }

  async restart(ref: string, timeoutSeconds?: number): Promise<void> {
    const id = this.get(ref).id;
    if (this.isRunning(this.get(id))) await this.stop(id, timeoutSeconds);
    await this.serial(id, async () => {
      const rec = this.get(id);
      this.cancelRestart(rec.id);
      rec.manuallyStopped = false;
      // Another change may have started it meanwhile: then it is running, as asked.
      if (!this.isRunning(rec)) await this.launch(rec);
      this.event("restart", rec);
    });
  }

  async pause(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.serial(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status === "paused") throw new ContainerError(`Container ${rec.id} is already paused`, "CONFLICT");
      if (rec.state.Status !== "running") throw notRunning(rec.id);
      await this.runc.pause(rec.id);
      rec.state = { ...rec.state, Status: "paused" };
      this.store.save(rec);
      this.event("pause", rec);
    });
  }

  async unpause(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.serial(id, async () => {
      const rec = this.get(id);
      if (rec.state.Status !== "paused") throw new ContainerError(`Container ${rec.id} is not paused`, "CONFLICT");
      await this.runc.resume(rec.id);
      rec.state = { ...rec.state, Status: "running" };
      this.store.save(rec);
      this.event("unpause", rec);
    });
  }

  /** Removes the anonymous volumes of a container that is gone (`docker rm -v`, `--rm`). */
  private removeAnonymousVolumes(mounts: MountPoint[] | undefined): void {
    for (const m of mounts ?? []) {
      if (m.Type !== "volume" || !m.Anonymous) continue;
      try {
        this.o.volumes.remove(m.Name);
      } catch {
        // Still used by another container, or already gone: kept, as Docker keeps it.
      }
    }
  }

  /** IDs of the containers that mount volume `name`, running or not. */
  volumeUsers(name: string): string[] {
    return this.store
      .all()
      .filter((r) => r.mounts?.some((m) => m.Type === "volume" && m.Name === name))
      .map((r) => r.id);
  }

  /** Docker's NetworkSettings.Networks: each network the container is on, with its endpoint while it runs. */
  private dockerNetworks(r: ContainerRecord): Record<string, unknown> {
    const nets = this.o.networks;
    const out: Record<string, unknown> = {};
    const mode = r.config.HostConfig.NetworkMode;
    if (!r.networks && (mode === "host" || mode === "none" || !nets)) {
      out[mode === "host" ? "host" : "none"] = { NetworkID: "", EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, MacAddress: "", Aliases: null };
      return out;
    }
    for (const [netId, req] of Object.entries(r.networks ?? {})) {
      let name: string;
      try {
        name = nets!.get(netId).Name;
      } catch {
        continue; // removed meanwhile
      }
      const ep = r.endpoints?.[netId];
      out[name] = {
        IPAMConfig: req.IPAMConfig ?? null,
        Links: null,
        Aliases: ep?.Aliases ?? req.Aliases ?? null,
        NetworkID: netId,
        EndpointID: ep?.EndpointID ?? "",
        Gateway: ep?.Gateway ?? "",
        IPAddress: ep?.IPAddress ?? "",
        IPPrefixLen: ep?.IPPrefixLen ?? 0,
        MacAddress: ep?.MacAddress ?? "",
        DNSNames: ep ? ep.Aliases : null,
      };
    }
    return out;
  }

  /** The top-level addresses of inspect's NetworkSettings, which Docker fills from the default bridge. */
  private defaultBridgeSettings(r: ContainerRecord): Record<string, unknown> {
    const bridge = Object.values(r.endpoints ?? {}).find((e) => this.o.networks?.all().find((n) => n.Id === e.NetworkID)?.predefined);
    return { IPAddress: bridge?.IPAddress ?? "", IPPrefixLen: bridge?.IPPrefixLen ?? 0, Gateway: bridge?.Gateway ?? "", MacAddress: bridge?.MacAddress ?? "" };
  }

  /** Docker's NetworkSettings.Ports: each exposed or published port, with its host bindings while it runs. */
  private portMap(r: ContainerRecord): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
    const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
    for (const p of r.exposedPorts ?? []) out[p] = null;
    for (const m of r.ports ?? []) (out[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
    return out;
  }

  /** Docker's Mounts of list and inspect. */
  private dockerMounts(r: ContainerRecord): Array<Record<string, unknown>> {
    return (r.mounts ?? []).map((m) => ({
      Type: m.Type,
      ...(m.Type === "volume" ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Type === "volume" ? { Driver: m.Driver } : {}),
      Mode: m.Mode,
      RW: m.RW,
      Propagation: m.Propagation,
    }));
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const id = this.get(ref).id;
    await this.serial(id, () => this.removeNow(id, opts));
  }

  private async removeNow(id: string, opts: { force?: boolean; volumes?: boolean }): Promise<void> {
    const rec = this.store.get(id);
    // Removed by a change queued before this one: done, as asked.
    if (!rec || rec.state.Status === "removing") return;
    if (this.isRunning(rec)) {
      if (!opts.force) throw new ContainerError(`cannot remove container "/${rec.name}": container is running: stop the container before removing or force remove`, "CONFLICT");
      this.suppressPolicy.add(rec.id);
      try {
        const exited = this.wait(rec.id, "not-running");
        await this.signal(rec, "SIGKILL");
        // SIGKILL cannot be ignored; if no exit shows up the supervisor is gone, and the runtime's
        // forced delete below takes the container down regardless.
        await Promise.race([exited, sleep(10_000)]);
      } finally {
        this.suppressPolicy.delete(rec.id);
      }
    }
    this.cancelRestart(rec.id);
    rec.state = { ...rec.state, Status: "removing" };
    this.store.save(rec);
    await this.deleteFromRuntime(rec.id);
    await this.unmountRootfs(rec.id);
    await this.o.snapshots.remove(this.snapshotKey(rec.id)).catch((e: unknown) => {
      if (!(e instanceof Error && e.name === "SnapshotNotFoundError")) throw e;
    });
    rmSync(join(this.exitDir, rec.id), { force: true });
    this.store.delete(rec.id);
    this.restartDelay.delete(rec.id);
    this.attachHub.drop(rec.id);
    if (opts.volumes) this.removeAnonymousVolumes(rec.mounts);
    this.event("destroy", rec);
    this.wake(rec.id, ["removed", "not-running", "next-exit"], rec.state.ExitCode);
  }

  rename(ref: string, newName: string): void {
    const rec = this.get(ref);
    const name = newName.replace(/^\//, "");
    if (!ContainerNameSchema.safeParse(name).success) throw new ContainerError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, "INVALID");
    if (name === rec.name) throw new ContainerError(`Renaming a container with the same name as its current name`, "CONFLICT");
    const other = this.store.all().find((r) => r.name === name);
    if (other) throw this.nameConflict(name, other.id);
    if (this.reservedNames.has(name)) throw new ContainerError(`Conflict. The container name "/${name}" is being used by a container being created`, "CONFLICT");
    const oldName = rec.name;
    rec.name = name;
    this.store.save(rec);
    this.event("rename", rec, { oldName: `/${oldName}` });
  }

  /** Changes limits (and the restart policy) of a container; a running one gets them at once. */
  async update(ref: string, changes: z.input<typeof HostConfigSchema>): Promise<{ Warnings: string[] }> {
    const id = this.get(ref).id;
    return this.serial(id, () => this.updateNow(id, changes));
  }

  private async updateNow(id: string, changes: z.input<typeof HostConfigSchema>): Promise<{ Warnings: string[] }> {
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
    if (this.isRunning(rec)) await this.runc.update(rec.id, res);
    rec.config = { ...rec.config, HostConfig: next };
    this.store.save(rec);
    this.event("update", rec);
    return { Warnings: [] };
  }

  // ---------------------------------------------------------------- views

  /**
   * Attaches to the container's stdio: at once when it runs, else from its next start (so attach,
   * then start, misses nothing). stdin reaches the container only if it was created with OpenStdin.
   */
  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const rec = this.get(ref);
    if (rec.state.Status === "removing") throw new ContainerError(`container ${rec.id} is marked for removal`, "CONFLICT");
    const running = this.isRunning(rec);
    const session = this.attachHub.open(rec.id, this.bundle(rec.id), running, Boolean(rec.config.OpenStdin), opts);
    if (running) {
      try {
        await session.attached;
      } catch (e) {
        throw new ContainerError(`cannot attach to container ${rec.id}: ${(e as Error).message}`, "FAILED");
      }
    }
    return session;
  }

  /** Resizes the terminal of a running TTY container. */
  resize(ref: string, rows: number, cols: number): void {
    const rec = this.get(ref);
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows > 10_000 || cols > 10_000) throw new ContainerError("the terminal size must be whole numbers of rows and columns between 1 and 10000", "INVALID");
    if (!this.isRunning(rec)) throw notRunning(rec.id);
    if (!rec.config.Tty) throw new ContainerError(`container ${rec.id} has no TTY to resize`, "CONFLICT");
    if (!sendConmonControl(join(this.bundle(rec.id), "ctl"), CONMON_CTL.resize, rows, cols)) throw new ContainerError(`cannot resize container ${rec.id}: its supervisor is not answering`, "FAILED");
  }

  logs(ref: string, opts: Omit<ReadLogsOptions, "finished"> = {}): AsyncGenerator<LogEntry> {
    const rec = this.get(ref);
    return readLogs(this.logPath(rec.id), { ...opts, finished: () => !this.isRunning(this.store.get(rec.id) ?? rec) });
  }

  /** The same lines in batches, each line with its cursor (for the control plane's log streams). */
  logBatches(ref: string, opts: Omit<ReadLogsOptions, "finished"> = {}): AsyncGenerator<LogEntry[]> {
    const rec = this.get(ref);
    return readLogBatches(this.logPath(rec.id), { ...opts, finished: () => !this.isRunning(this.store.get(rec.id) ?? rec) });
  }

  /** `docker top`: the container's processes. */
  async top(ref: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.get(ref);
    if (!this.isRunning(rec)) throw notRunning(rec.id);
    return topProcesses(await this.runc.pids(rec.id));
  }

  /** One stats sample in Docker's shape; pass the previous sample to get CPU deltas (precpu_stats). */
  async stats(ref: string, previous?: ContainerStats): Promise<ContainerStats & { id: string; name: string }> {
    const rec = this.get(ref);
    const s = await readContainerStats(`${this.cgroupParent}/${rec.id}`, this.isRunning(rec) ? rec.state.Pid : 0, previous);
    return { ...s, id: rec.id, name: `/${rec.name}` };
  }

  /** Docker's /containers/json entries. */
  /**
   * Docker's streaming stats: a sample at once, then one each collector tick (1 s), each with the
   * previous one's CPU figures (precpu_stats) so a reader can compute the CPU share. A stopped
   * container yields its idle figures; the stream ends when the container is removed or `signal` aborts.
   */
  async *statsStream(ref: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<ContainerStats & { id: string; name: string }> {
    const id = this.get(ref).id;
    let pending: (ContainerStats & { id: string; name: string }) | null | undefined;
    let wake: (() => void) | undefined;
    const stop = this.statsSampler.watch(id, (s) => {
      pending = s;
      wake?.();
    });
    const onAbort = () => wake?.();
    opts.signal?.addEventListener("abort", onAbort);
    try {
      let next = this.sampleStats(id, systemCpuUsage());
      while (next && !opts.signal?.aborted) {
        yield next;
        const previous: ContainerStats = next;
        if (pending === undefined) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const raw = pending;
        pending = undefined;
        next = raw ? { ...raw, preread: previous.read, precpu_stats: previous.cpu_stats } : null;
      }
    } finally {
      stop();
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Counters of every running container for the control plane's stats history, from the sampler's round, and the round's time. */
  statsCounters(): { at: number; containers: StatsReport["containers"] } {
    const round = this.statsSampler.current();
    let at = Date.now();
    const out: StatsReport["containers"] = [];
    for (const [id, { sample, at: when }] of round) {
      // A round reused from moments ago may name a container that has gone since.
      const rec = this.store.get(id);
      if (!rec || !this.isRunning(rec)) continue;
      out.push(containerCounters(id, sample));
      at = when;
    }
    return { at, containers: out };
  }

  /** The sampler's last sample of a container (a previous sample for CPU shares), if recent. */
  lastStats(ref: string, maxAgeMs = 2_500): Sampled<ContainerStats & { id: string; name: string }> | undefined {
    const last = this.statsSampler.last(this.get(ref).id);
    return last && Date.now() - last.at <= maxAgeMs ? last : undefined;
  }

  /**
   * A stats request: takes a round unless one is under half a second old, and keeps rounds going
   * for a minute (a request for stats is likely to be followed by more).
   */
  wantStats(): void {
    this.statsSampler.current(500);
  }

  /** One sample of a container for the collector; null once it is gone. */
  private sampleStats(id: string, systemCpu: number): (ContainerStats & { id: string; name: string }) | null {
    const rec = this.store.get(id);
    if (!rec) return null;
    const s = readContainerStats(`${this.cgroupParent}/${id}`, this.isRunning(rec) ? rec.state.Pid : 0, undefined, systemCpu);
    return { ...s, id, name: `/${rec.name}` };
  }

  list(opts: { all?: boolean } = {}): Array<Record<string, unknown>> {
    return this.store
      .all()
      .filter((r) => opts.all || this.isRunning(r))
      .sort((a, b) => b.created.localeCompare(a.created))
      .map((r) => ({
        Id: r.id,
        Names: [`/${r.name}`],
        Image: r.imageName,
        ImageID: r.image,
        Command: [r.path, ...r.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" "),
        Created: Math.floor(Date.parse(r.created) / 1000),
        State: r.state.Status,
        Status: this.statusText(r),
        Ports: (r.ports ?? []).map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto })),
        Labels: r.config.Labels ?? {},
        HostConfig: { NetworkMode: r.config.HostConfig.NetworkMode ?? "none" },
        NetworkSettings: { Networks: this.dockerNetworks(r) },
        Mounts: this.dockerMounts(r),
      }));
  }

  private statusText(r: ContainerRecord): string {
    const since = (t: string) => humanDuration(Date.now() - Date.parse(t));
    switch (r.state.Status) {
      case "running":
        return `Up ${since(r.state.StartedAt)}${r.state.Health ? ` (${r.state.Health.Status === "starting" ? "health: starting" : r.state.Health.Status})` : ""}`;
      case "paused":
        return `Up ${since(r.state.StartedAt)} (Paused)`;
      case "restarting":
        return `Restarting (${r.state.ExitCode}) ${since(r.state.FinishedAt)} ago`;
      case "exited":
        return r.state.FinishedAt === ZERO_TIME ? "Exited" : `Exited (${r.state.ExitCode}) ${since(r.state.FinishedAt)} ago`;
      case "created":
        return "Created";
      case "removing":
        return "Removal In Progress";
      case "dead":
        return "Dead";
    }
  }

  /** Docker's /containers/{id}/json. */
  inspect(ref: string): Record<string, unknown> {
    const r = this.get(ref);
    const c: ContainerConfig = r.config;
    const host = c.HostConfig;
    const d = this.dir(r.id);
    return {
      Id: r.id,
      Created: r.created,
      Path: r.path,
      Args: r.args,
      State: {
        Status: r.state.Status,
        Running: this.isRunning(r),
        Paused: r.state.Status === "paused",
        Restarting: r.state.Status === "restarting",
        OOMKilled: r.state.OOMKilled,
        Dead: r.state.Status === "dead",
        Pid: r.state.Pid,
        ExitCode: r.state.ExitCode,
        Error: r.state.Error,
        StartedAt: r.state.StartedAt,
        FinishedAt: r.state.FinishedAt,
        ...(r.state.Health ? { Health: r.state.Health } : {}),
      },
      Image: r.image,
      ResolvConfPath: join(d, "resolv.conf"),
      HostnamePath: join(d, "hostname"),
      HostsPath: join(d, "hosts"),
      LogPath: this.logPath(r.id),
      Name: `/${r.name}`,
      RestartCount: r.restartCount,
      Driver: "overlay",
      Platform: "linux",
      MountLabel: "",
      ProcessLabel: "",
      AppArmorProfile: "",
      ExecIDs: null,
      HostConfig: {
        NetworkMode: host.NetworkMode ?? "none",
        RestartPolicy: host.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 },
        AutoRemove: Boolean(host.AutoRemove),
        Privileged: Boolean(host.Privileged),
        ReadonlyRootfs: Boolean(host.ReadonlyRootfs),
        CapAdd: host.CapAdd ?? null,
        CapDrop: host.CapDrop ?? null,
        SecurityOpt: host.SecurityOpt ?? null,
        Memory: host.Memory ?? 0,
        MemorySwap: host.MemorySwap ?? 0,
        MemoryReservation: host.MemoryReservation ?? 0,
        NanoCpus: host.NanoCpus ?? 0,
        CpuShares: host.CpuShares ?? 0,
        CpuPeriod: host.CpuPeriod ?? 0,
        CpuQuota: host.CpuQuota ?? 0,
        CpusetCpus: host.CpusetCpus ?? "",
        CpusetMems: host.CpusetMems ?? "",
        PidsLimit: host.PidsLimit ?? null,
        OomKillDisable: Boolean(host.OomKillDisable),
        Ulimits: host.Ulimits ?? null,
        ShmSize: host.ShmSize || 64 * 1024 * 1024,
        Sysctls: host.Sysctls ?? null,
        Init: host.Init ?? null,
        LogConfig: { Type: host.LogConfig?.Type || "json-file", Config: host.LogConfig?.Config ?? {} },
        PortBindings: host.PortBindings ?? {},
        PublishAllPorts: Boolean(host.PublishAllPorts),
        Binds: host.Binds ?? null,
        Tmpfs: host.Tmpfs ?? null,
      },
      GraphDriver: { Name: "overlay", Data: { MergedDir: this.rootfs(r.id) } },
      Mounts: this.dockerMounts(r),
      Config: {
        Hostname: r.hostname,
        Domainname: c.Domainname ?? "",
        User: r.user,
        AttachStdin: Boolean(c.AttachStdin),
        AttachStdout: c.AttachStdout ?? true,
        AttachStderr: c.AttachStderr ?? true,
        ExposedPorts: c.ExposedPorts ?? null,
        Tty: Boolean(c.Tty),
        OpenStdin: Boolean(c.OpenStdin),
        StdinOnce: Boolean(c.StdinOnce),
        Env: r.env,
        Cmd: c.Cmd ?? null,
        Image: r.imageName,
        Volumes: null,
        WorkingDir: c.WorkingDir ?? "",
        Entrypoint: c.Entrypoint ?? null,
        OnBuild: null,
        Labels: c.Labels ?? {},
        StopSignal: r.stopSignal,
        ...(c.StopTimeout !== undefined && c.StopTimeout !== null ? { StopTimeout: c.StopTimeout } : {}),
        ...(r.healthcheck ? { Healthcheck: r.healthcheck } : {}),
      },
      NetworkSettings: { ...this.defaultBridgeSettings(r), Networks: this.dockerNetworks(r), Ports: this.portMap(r) },
    };
  }
}

/** A network layer error as the container layer's (same message; not-found and conflicts kept, the rest invalid input). */
function asContainerError(e: unknown): unknown {
  if (!(e instanceof NetworkError)) return e;
  return new ContainerError(e.message, e.code === "NOT_FOUND" || e.code === "CONFLICT" ? e.code : "INVALID");
}

/** Static addresses and aliases are for user-defined networks only, as in Docker. */
function checkEndpointRequest(net: NetworkRecord, req: EndpointRequest): void {
  if (net.predefined && (req.IPAMConfig?.IPv4Address || req.Aliases?.length)) throw new ContainerError("user specified IP address and aliases are supported on user defined networks only", "INVALID");
}
