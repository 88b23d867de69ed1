// Runs a container's process: its rootfs mounted, its networks joined, its OCI spec written, and
// the runtime started under a conmon of its own (so the container outlives the agent).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostConfig } from "@berth/protocol";
import type { LogKeepers } from "../logs/index.ts";
import { LogConfigError, logRotationOf } from "../logs/index.ts";
import { isMountPoint } from "../mount/index.ts";
import { NetworkCommandError } from "../network/index.ts";
import { createWithConmon } from "../runtime/index.ts";
import { readPidFile } from "../runtime/index.ts";
import { RuntimeError, type OciRuntimes } from "../runtime/index.ts";
import { buildSpec, resolveDevices, SpecError } from "../runtime/index.ts";
import { resolveUser, UserResolutionError } from "../runtime/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import type { VolumeService } from "../volumes/index.ts";
import type { AttachHub } from "./attach.ts";
import { mergeEnv } from "./create-config.ts";
import { ContainerError } from "./errors.ts";
import { ociMounts, prepareMounts } from "./mounts.ts";
import { taskFileMounts } from "./task-files.ts";
import { networkOf, type NetworkAttachment } from "./network-attachment.ts";
import { releaseShm, resolveNamespaces } from "./shared-namespaces.ts";
import type { ContainerPaths } from "./paths.ts";
import type { ContainerRecord } from "./record.ts";
import { deleteFromRuntime } from "./runtime-cleanup.ts";
import type { ContainerStore } from "./store.ts";
import type { Supervision } from "./supervision.ts";

export interface LauncherOptions {
  paths: ContainerPaths;
  store: ContainerStore;
  runc: OciRuntimes;
  conmonBin: string;
  /** cgroupfs parent of every container of this agent. */
  cgroupParent: string;
  /** The agent's own RLIMIT_NOFILE hard limit: a container can never be given more. */
  nofileHard: number;
  /** Host path of a static init for `Init: true`. */
  initPath: string | undefined;
  snapshots: Snapshotter;
  volumes: VolumeService;
  network: NetworkAttachment;
  logKeepers: LogKeepers;
  attachHub: AttachHub;
  supervision: Supervision;
  /** A container by ID, name or ID prefix (for `container:` namespace modes). */
  find(ref: string): ContainerRecord;
}

/** Starts rotating the container's log, when its LogConfig sets a max-size. */
export function keepLogs(keepers: LogKeepers, paths: ContainerPaths, rec: ContainerRecord): void {
  const rotation = logRotationOf(rec.config.HostConfig.LogConfig);
  if (rotation) keepers.keep(paths.logPath(rec.id), paths.ctlFifo(rec.id), rotation);
}

export class Launcher {
  constructor(private readonly o: LauncherOptions) {}

  /** Builds a new container's spec once, so bad limits, capabilities or options fail the create, not the start. */
  checkSpec(argv: string[], workingDir: string, hostname: string, host: HostConfig): void {
    try {
      const user = { uid: 0, gid: 0, additionalGids: [], home: "/" };
      const proc = { args: argv, env: [], cwd: workingDir, user, hostname, tty: false };
      const devices = resolveDevices(host.Devices ?? []);
      buildSpec({ ...proc, host, cgroupsPath: "/", network: networkOf(host), devices, mounts: [], ...this.limits() });
      logRotationOf(host.LogConfig);
    } catch (e) {
      if (e instanceof SpecError || e instanceof LogConfigError) throw new ContainerError(e.message, "INVALID");
      throw e;
    }
  }

  private limits(): { nofileHard: number; initPath?: string } {
    return { nofileHard: this.o.nofileHard, ...(this.o.initPath ? { initPath: this.o.initPath } : {}) };
  }

  /** Runs the container's process; a failure is recorded on the container and thrown as the container layer's error. */
  async launch(rec: ContainerRecord): Promise<void> {
    const { id } = rec;
    const { paths } = this.o;
    const runc = this.o.runc.for(id);
    const bundle = paths.bundle(id);
    const rootfs = paths.rootfs(id);
    mkdirSync(rootfs, { recursive: true });
    // Leftovers of an earlier run: runtime state, exit files, a stale mount.
    await deleteFromRuntime(runc, id);
    rmSync(paths.exitFile(id), { force: true });
    const persist = paths.persistDir(id);
    rmSync(persist, { recursive: true, force: true });
    mkdirSync(persist, { recursive: true });
    if (isMountPoint(rootfs)) await unmount(rootfs).catch(() => undefined);
    await mountAll(await this.o.snapshots.mounts(paths.snapshotKey(id)), rootfs);
    try {
      const host = rec.config.HostConfig;
      const user = await resolveUser(rootfs, rec.user, host.GroupAdd ?? []);
      const shared = await resolveNamespaces(rec, this.o.find, paths);
      const endpoints = await this.o.network.join(rec);
      const { mounts: etc, linkEnv } = this.o.network.writeEtcFiles(rec, shared.network, shared.networkOwner);
      if (await prepareMounts(rec.mounts ?? [], rootfs, this.o.volumes)) this.o.store.save(rec);
      const env = mergeEnv([`HOSTNAME=${rec.hostname}`], rec.config.Tty ? ["TERM=xterm"] : [], linkEnv, rec.env);
      if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);
      const spec = buildSpec({
        args: [rec.path, ...rec.args],
        env,
        cwd: rec.workingDir,
        user,
        hostname: rec.hostname,
        tty: Boolean(rec.config.Tty),
        host,
        cgroupsPath: `${this.o.cgroupParent}/${id}`,
        network: shared.network,
        namespaces: shared.namespaces,
        ...(shared.shm ? { shm: shared.shm } : {}),
        devices: resolveDevices(host.Devices ?? []),
        imageArchitecture: rec.imageArchitecture,
        mounts: [...etc, ...ociMounts(rec.mounts ?? []), ...taskFileMounts(paths, rec)],
        ...this.limits(),
      });
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      const conmonPidFile = join(paths.dir(id), "conmon.pid");
      if (logRotationOf(host.LogConfig)) await this.o.logKeepers.ready();
      // The previous run's file would name a dead conmon, and the supervisor check would act on it.
      rmSync(conmonPidFile, { force: true });
      const { pid } = await createWithConmon({
        conmon: this.o.conmonBin,
        runtime: runc.binary,
        runtimeRoot: runc.root,
        id,
        name: rec.name,
        bundle,
        exitDir: paths.exitDir,
        persistDir: persist,
        logPath: host.LogConfig?.Type === "none" ? null : paths.logPath(id),
        pidFile: join(paths.dir(id), "container.pid"),
        conmonPidFile,
        socketDir: paths.socketsDir,
        conmonLog: join(paths.dir(id), "conmon.log"),
        tty: Boolean(rec.config.Tty),
        stdin: Boolean(rec.config.OpenStdin),
        stdinOnce: Boolean(rec.config.StdinOnce),
      });
      keepLogs(this.o.logKeepers, paths, rec);
      rec.conmonPid = await readPidFile(conmonPidFile);
      await this.o.network.plumb(rec, pid, endpoints);
      // Clients attached before the start see the output from its first byte.
      await this.o.attachHub.connectWaiting(id, bundle);
      await runc.start(id);
      this.o.supervision.started(rec, pid);
    } catch (e) {
      await this.o.network.leave(rec);
      await runc.delete(id, true).catch(() => undefined);
      rmSync(paths.exitFile(id), { force: true });
      await unmount(rootfs).catch(() => undefined);
      await releaseShm(paths, rec);
      const message = e instanceof Error ? e.message : String(e);
      this.o.supervision.startFailed(rec, message);
      if (e instanceof UserResolutionError || e instanceof SpecError) throw new ContainerError(message, "INVALID");
      if (e instanceof RuntimeError || e instanceof NetworkCommandError) {
        throw new ContainerError(`failed to start container ${id}: ${message}`, "FAILED");
      }
      throw e;
    }
  }
}
