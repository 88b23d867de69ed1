import type { Db } from "@berth/db";
import type { HostEvent } from "@berth/protocol";
import { parseReference } from "@berth/protocol/reference";
import type { AgentGateway, HostStatusEvent } from "../agent-gateway.ts";
import { isDomainError } from "../errors.ts";
import type { FleetEvents } from "../fleet-events.ts";
import type { Logger } from "../logger.ts";
import { registryAccessFor } from "../registries.ts";
import type { SecretBox } from "../secret-box.ts";
import { type ActiveCount, TeamMemo, withPlaced } from "./team-memo.ts";
import { HostSyncQueue } from "./host-sync-queue.ts";
import { recordServiceSamples, SERVICE_SAMPLE_MS } from "./service-samples.ts";
import { parseConstraint } from "./constraints.ts";
import { FAILURE_WINDOW_MS, type HostCandidate, type PlacementRequest, place, refusal } from "./placement.ts";
import type { ServiceSpec } from "./spec.ts";
import { type ServiceStore, type ServiceView, templateHash } from "./service-store.ts";
import { taskContainerConfig, taskName, taskOfLabels } from "./task-container.ts";

/*
 * The reconciler: makes each service's tasks match its spec, on the one control-plane process
 * that leads (see leader.ts). It acts per service, when something about the service changed (its
 * spec, one of its containers, a host), and every service again at each resync. Each pass reads
 * Postgres, decides, records the decision, then acts through the agents; actions run in the
 * background and their outcome comes back as another pass. So a pass is idempotent: run it twice,
 * or on another process after a crash, and it decides the same.
 *
 * Task states are Swarm's: pending (no host fits; the reason is in `message`), assigned,
 * starting, running, complete (exit 0), failed, rejected (could not start), shutdown (stopped
 * by the reconciler), orphaned (its host was lost). Desired states: running, shutdown.
 */

const ACTIVE_STATES = ["pending", "assigned", "starting", "running"];
const TERMINAL_STATES = ["complete", "failed", "rejected", "shutdown", "orphaned"];
/** Tasks each slot keeps as history beside its current one (Swarm's task-history-retention-limit). */
export const SLOT_HISTORY = 5;
const PULL_TIMEOUT_MS = 15 * 60_000;
/** Task starts in flight at once on the leader (each is a few commands and database writes). */
const MAX_STARTS = 64;
/** Specs of service versions kept in memory (a version never changes): the most recently read ones. */
const SPECS_KEPT = 2000;

export interface ReconcilerOptions {
  db: Db;
  gateway: AgentGateway;
  events: FleetEvents;
  store: ServiceStore;
  secretBox: SecretBox;
  logger: Logger;
  /** Every service is looked at again this often, and every linked host's task containers are listed. */
  resyncMs?: number;
}

type TaskRow = Awaited<ReturnType<Db["task"]["findMany"]>>[number];
/** What the reconciler needs of a host: its facts' few scheduling fields, read in SQL (not the whole facts document). */
interface HostRow {
  id: string;
  name: string;
  labels: unknown;
  status: "pending" | "online" | "offline";
  availability: "active" | "pause" | "drain";
  cpus: number | null;
  memoryBytes: number | null;
  arch: string | null;
}

export class Reconciler {
  private readonly dirty = new Set<string>();
  private draining: Promise<void> | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private sampleTimer: NodeJS.Timeout | null = null;
  private readonly wakeups = new Map<string, NodeJS.Timeout>();
  /** Tasks whose start or stop is in flight on this process. */
  private readonly inFlight = new Set<string>();
  private readonly startQueue: { task: TaskRow; service: ServiceView }[] = [];
  private starting = 0;
  private readonly startsInFlight = new Set<Promise<void>>();
  private running = false;
  /** Specs of service versions (they never change), the last SPECS_KEPT read. */
  private readonly specs = new Map<string, ServiceSpec>();
  /** Template hash of each version seen (null: the version is gone), bounded as `specs`. */
  private readonly templates = new Map<string, string | null>();
  private readonly hostSyncs = new HostSyncQueue(2);
  /** Services whose spec changed since their last pass: their next pass will place tasks. */
  private readonly respecced = new Set<string>();
  /** Task counts read ahead for a pass that will place (taken by its first `candidates`). */
  private readonly countsAhead = new Map<string, Promise<TaskCounts>>();
  /** What each team's hosts run, and the hosts themselves, kept between passes (see team-memo.ts). */
  private readonly active = new TeamMemo<ActiveCount[]>((teamId) => this.readActive({ teamId }));
  private readonly hosts = new TeamMemo<HostRow[]>((teamId) => this.readHosts({ teamId }));
  /** Each service's team (it never changes), so its team's counts can be taken before the service is read. */
  private readonly teamOf = new Map<string, string>();
  private refreshTimer: NodeJS.Timeout | null = null;

  private readonly onEvent = (hostId: string, e: HostEvent) => void this.observe(hostId, e).catch((err) => this.fail(err, "event"));
  private readonly onStatus = (e: HostStatusEvent) => void this.hostChanged(e.hostId, e.status).catch((err) => this.fail(err, "host"));

  constructor(private readonly o: ReconcilerOptions) {}

  /** A host's status, changed on another process (its sweep, or its agent's link). */
  statusElsewhere(e: HostStatusEvent): void {
    this.onStatus(e);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.o.events.on("event", this.onEvent);
    this.o.gateway.on("status", this.onStatus);
    this.resyncTimer = setInterval(() => void this.resync().catch((err) => this.fail(err, "resync")), this.o.resyncMs ?? 10_000);
    this.resyncTimer.unref();
    void this.resync().catch((err) => this.fail(err, "resync"));
    // The services' charts: one process (this leader) samples them.
    this.sampleTimer = setInterval(
      () => void recordServiceSamples(this.o.db).catch((err) => this.fail(err, "service sampling")),
      SERVICE_SAMPLE_MS,
    );
    this.sampleTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.events.off("event", this.onEvent);
    this.o.gateway.off("status", this.onStatus);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const t of this.wakeups.values()) clearTimeout(t);
    this.wakeups.clear();
    this.dirty.clear();
    for (const q of this.startQueue.splice(0)) this.inFlight.delete(q.task.id);
    await this.draining;
    // Starts already sent get a few seconds to record their outcome before the database goes (a
    // pull can take minutes: one cut short is taken up again by the next leader's pass).
    await Promise.race([Promise.allSettled([...this.startsInFlight]), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }

  /** A service's spec changed (created, updated, scaled): look at it soon, ready to place. */
  specChanged(serviceId: string, teamId?: string): void {
    if (!this.running) return;
    if (teamId) this.teamOf.set(serviceId, teamId);
    this.respecced.add(serviceId);
    this.kick(serviceId);
  }

  /** Looks at a service soon (its spec changed, or something it runs did). */
  kick(serviceId: string): void {
    if (!this.running) return;
    this.dirty.add(serviceId);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
      if (this.dirty.size && this.running) this.kick([...this.dirty][0]!);
    });
  }

  private async drain(): Promise<void> {
    // Let a burst of kicks collect, so one pass covers them.
    await new Promise((r) => setImmediate(r));
    while (this.dirty.size && this.running) {
      const id = [...this.dirty][0]!;
      this.dirty.delete(id);
      try {
        await this.reconcile(id);
      } catch (err) {
        this.fail(err, "reconcile", { serviceId: id });
      }
    }
  }

  private fail(err: unknown, what: string, extra: Record<string, unknown> = {}): void {
    this.o.logger.error({ err, ...extra }, `reconciler: ${what} failed`);
  }

  private wakeAt(serviceId: string, at: number): void {
    if (this.wakeups.has(serviceId)) return;
    const t = setTimeout(
      () => {
        this.wakeups.delete(serviceId);
        this.kick(serviceId);
      },
      Math.max(0, at - Date.now()),
    );
    t.unref();
    this.wakeups.set(serviceId, t);
  }

  /**
   * Services or hosts were removed, or hosts changed (labels, availability): records may have
   * gone with them (cascades), so what is kept is forgotten, and every service is looked at.
   */
  everythingChanged(): Promise<void> {
    this.active.forget();
    this.hosts.forget();
    return this.resync();
  }

  private async refreshKept(): Promise<void> {
    try {
      const teams = (await this.o.db.host.findMany({ distinct: ["teamId"], select: { teamId: true } })).map((h) => h.teamId);
      await Promise.all([this.active.refresh(teams), this.hosts.refresh(teams)]);
    } catch (err) {
      this.fail(err, "refresh of kept state");
    }
  }

  /** Hosts changed: what is kept of them is read again a second later (once, however many change meanwhile). */
  private refreshHostsSoon(): void {
    if (this.refreshTimer || !this.running) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.running) void this.refreshKept();
    }, 1000);
    this.refreshTimer.unref();
  }

  /** Every service, and every linked host's task containers against the records. */
  async resync(): Promise<void> {
    // What is kept is read again, for every team with hosts: the backstop for changes this process
    // did not see (a host that joined, or went offline, on another control-plane process), and a
    // team's first placement finds it ready.
    await this.refreshKept();
    const services = await this.o.db.service.findMany({ select: { id: true } });
    for (const s of services) this.kick(s.id);
    const linked = (await this.o.db.host.findMany({ where: { status: "online" }, select: { id: true } }))
      .map((h) => h.id)
      .filter((id) => this.o.gateway.isConnected(id));
    // Events and links keep hosts in step; this pass only catches what they missed, so a large
    // fleet is walked in slices (each host at least every six passes).
    const due = this.hostSyncs.due(linked, 6, 16);
    await Promise.all(due.map((id) => this.syncHost(id).catch((err) => this.fail(err, "host sync", { hostId: id }))));
  }

  // ---- observation ----

  /** A container event from a host: a task started, ended or went away. */
  private async observe(hostId: string, e: HostEvent): Promise<void> {
    if (e.Type !== "container") return;
    const ids = taskOfLabels(e.Actor.Attributes);
    if (!ids) return;
    const task = await this.o.db.task.findUnique({ where: { id: ids.taskId } });
    if (!task || task.hostId !== hostId) return;
    if (e.Action === "start" && task.state !== "running" && task.desiredState === "running") {
      await this.o.db.task.update({ where: { id: task.id }, data: { state: "running", containerId: e.Actor.ID, startedAt: new Date() } });
    } else if (e.Action === "die" && !TERMINAL_STATES.includes(task.state)) {
      const code = Number(e.Actor.Attributes.exitCode ?? "-1");
      const stopped = task.desiredState !== "running";
      await this.o.db.task.update({
        where: { id: task.id },
        data: {
          state: stopped ? "shutdown" : code === 0 ? "complete" : "failed",
          exitCode: code,
          endedAt: new Date(),
          message: stopped ? "stopped" : code === 0 ? "finished" : `task exited with code ${code}`,
        },
      });
      this.active.forget();
    } else if (e.Action.startsWith("health_status: ")) {
      const health = e.Action.slice("health_status: ".length).trim();
      await this.o.db.task.update({ where: { id: task.id }, data: { health } });
      if (health !== "unhealthy" || task.desiredState !== "running" || task.state !== "running") {
        if (health === "healthy") this.kick(task.serviceId); // an update may be waiting for it
        return;
      }
      // Swarm's rule: an unhealthy task has failed; it is stopped and its slot gets a new one.
      await this.o.db.task.update({ where: { id: task.id }, data: { state: "failed", endedAt: new Date(), message: "task unhealthy" } });
      this.active.forget();
      void this.o.gateway.command(hostId, "containers.stop", { id: e.Actor.ID }, { timeoutMs: 120_000 }).catch(() => undefined);
    } else if (e.Action === "destroy" && ACTIVE_STATES.includes(task.state) && !this.inFlight.has(task.id)) {
      await this.o.db.task.update({
        where: { id: task.id },
        data: { state: "failed", endedAt: new Date(), message: "its container was removed" },
      });
      this.active.forget();
    } else return;
    this.kick(task.serviceId);
  }

  private async hostChanged(hostId: string, status: "online" | "offline"): Promise<void> {
    this.hosts.forget();
    this.refreshHostsSoon();
    if (status === "offline") {
      // Lost: its tasks run elsewhere now, with no restart delay. When it comes back, what it
      // still runs of them is removed (syncHost).
      const tasks = await this.o.db.task.findMany({ where: { hostId, desiredState: "running" } });
      const host = await this.o.db.host.findUnique({ where: { id: hostId }, select: { name: true } });
      const services = new Set<string>();
      for (const t of tasks) {
        const spec = await this.specAt(t.serviceId, t.version).catch(() => null);
        if (spec?.mode.kind === "global") continue; // a global task belongs to its host
        await this.o.db.task.update({
          where: { id: t.id },
          data: { desiredState: "shutdown", state: "orphaned", endedAt: new Date(), message: `host ${host?.name ?? hostId} was lost` },
        });
        services.add(t.serviceId);
      }
      if (services.size) this.active.forget();
      for (const s of services) this.kick(s);
    } else {
      await this.syncHost(hostId);
      const services = await this.o.db.service.findMany({ where: { team: { hosts: { some: { id: hostId } } } }, select: { id: true } });
      for (const s of services) this.kick(s.id);
    }
  }

  /**
   * Matches a host's task containers with the records: a task whose container is gone or ended
   * unseen is updated; a task container no record wants running (a stale task from before the
   * host was lost, a removed service) is removed.
   */
  syncHost(hostId: string): Promise<void> {
    return this.hostSyncs.run(hostId, () => this.syncHostNow(hostId));
  }

  private async syncHostNow(hostId: string): Promise<void> {
    const containers = await this.o.gateway.command(hostId, "containers.list", { all: true });
    const byTask = new Map<string, (typeof containers)[number]>();
    for (const c of containers) {
      const ids = taskOfLabels(c.Labels);
      if (ids) byTask.set(ids.taskId, c);
    }
    const records = await this.o.db.task.findMany({ where: { OR: [{ hostId }, { id: { in: [...byTask.keys()] } }] } });
    const known = new Map(records.map((t) => [t.id, t]));
    const touched = new Set<string>();
    for (const [taskId, c] of byTask) {
      const t = known.get(taskId);
      const wanted = t && t.hostId === hostId && t.desiredState === "running";
      if (!wanted) {
        // A slot's history keeps its stopped containers (their logs) until it is pruned; the rest
        // goes: a removed service's, a pruned task's, a lost host's stale ones, any still running.
        const history = t && t.hostId === hostId && t.state !== "orphaned" && TERMINAL_STATES.includes(t.state) && c.State !== "running";
        if (!history && !this.inFlight.has(taskId)) void this.removeContainer(hostId, c.Id, taskId);
        continue;
      }
      const ended = c.State === "exited" || c.State === "dead";
      if (ended && !TERMINAL_STATES.includes(t.state)) {
        const code = /Exited \((-?\d+)\)/.exec(c.Status)?.[1];
        await this.o.db.task.update({
          where: { id: t.id },
          data: {
            state: code === "0" ? "complete" : "failed",
            containerId: c.Id,
            ...(code !== undefined ? { exitCode: Number(code) } : {}),
            endedAt: new Date(),
            message: code === undefined ? "task ended" : `task exited with code ${code}`,
          },
        });
        this.active.forget();
        touched.add(t.serviceId);
      } else if (c.State === "running" && t.state !== "running" && !this.inFlight.has(t.id)) {
        await this.o.db.task.update({
          where: { id: t.id },
          data: { state: "running", containerId: c.Id, startedAt: t.startedAt ?? new Date() },
        });
        touched.add(t.serviceId);
      }
    }
    for (const t of records) {
      if (t.hostId !== hostId || t.desiredState !== "running" || this.inFlight.has(t.id)) continue;
      if ((t.state === "running" || t.state === "starting") && t.containerId && !byTask.has(t.id)) {
        await this.o.db.task.update({
          where: { id: t.id },
          data: { state: "failed", endedAt: new Date(), message: "its container is gone" },
        });
        this.active.forget();
        touched.add(t.serviceId);
      }
    }
    for (const s of touched) this.kick(s);
  }

  // ---- decisions ----

  private async reconcile(serviceId: string): Promise<void> {
    // A changed spec means placing: what the hosts run is read beside the rest, not after it.
    if (this.respecced.delete(serviceId)) {
      const ahead = this.taskCounts(serviceId, this.teamOf.get(serviceId));
      ahead.catch(() => undefined); // a pass that ends early never takes it
      this.countsAhead.set(serviceId, ahead);
    }
    try {
      await this.reconcilePass(serviceId);
    } finally {
      this.countsAhead.delete(serviceId);
    }
  }

  private async reconcilePass(serviceId: string): Promise<void> {
    // Read together: a pass's latency is mostly these round trips.
    const [service, hosts, tasks] = await Promise.all([
      this.o.store.get(serviceId).catch((e) => {
        if (isDomainError(e) && e.code === "NOT_FOUND") return null;
        throw e;
      }),
      this.hostsOf(serviceId),
      this.o.db.task.findMany({ where: { serviceId, desiredState: "running" }, orderBy: { createdAt: "asc" } }),
    ]);
    if (!service) {
      // Removed: its containers go at the next host sync; its tasks' records went with it.
      this.active.forget();
      this.teamOf.delete(serviceId);
      return;
    }
    this.teamOf.set(serviceId, service.teamId);
    this.keepSpec(`${serviceId}@${service.version}`, service.spec);
    const spec = service.spec;
    const now = Date.now();

    // Tasks on drained or removed hosts move: a global task goes with its host; a replicated one
    // is replaced elsewhere, after its replacement runs when the update order is start-first.
    const hostById = new Map(hosts.map((h) => [h.id, h]));
    const leaving = new Map<string, string>();
    for (const t of tasks) {
      const h = t.hostId ? hostById.get(t.hostId) : undefined;
      if (t.hostId && (!h || h.availability === "drain")) leaving.set(t.id, h ? `host ${h.name} is drained` : "host removed");
    }
    if (spec.mode.kind === "replicated") await this.reconcileReplicated(service, tasks, hosts, leaving, now);
    else {
      for (const t of tasks) if (leaving.has(t.id)) await this.retire(t, leaving.get(t.id)!);
      await this.reconcileGlobal(
        service,
        tasks.filter((t) => t.desiredState === "running"),
        hosts,
      );
    }
    await this.pruneHistory(serviceId);
  }

  private async reconcileReplicated(
    service: ServiceView,
    tasks: TaskRow[],
    hosts: HostRow[],
    leaving: Map<string, string>,
    now: number,
  ): Promise<void> {
    const spec = service.spec;
    const replicas = spec.mode.kind === "replicated" ? spec.mode.replicas : 0;
    const current = templateHash(spec);
    const isCurrent = new Map<string, boolean>();
    for (const t of tasks) isCurrent.set(t.id, (await this.templateOf(t.serviceId, t.version)) === current);

    const moving = (t: TaskRow) => leaving.has(t.id) || !isCurrent.get(t.id);
    const bySlot = new Map<number, TaskRow>();
    /** Tasks kept running until their slot's new task runs (start-first updates and drains). */
    const handingOver = new Map<number, TaskRow>();
    for (const t of tasks) {
      const other = bySlot.get(t.slot);
      if (!other) {
        bySlot.set(t.slot, t);
        continue;
      }
      // Two tasks in one slot. One that stays (current, on a usable host) beats one that moves
      // (outdated, or on a drained host); the moving one keeps serving until the other runs (a
      // start-first handover, or the slot retrying a failed replacement). Otherwise (both alike:
      // a crash mid-replacement) the newer one stays.
      const [keep, drop] = !moving(other) && moving(t) ? [other, t] : [t, other];
      bySlot.set(t.slot, keep);
      if (moving(drop) && keep.state !== "running" && !TERMINAL_STATES.includes(drop.state)) handingOver.set(t.slot, drop);
      else await this.retire(drop, leaving.get(drop.id) ?? (isCurrent.get(keep.id) ? "updated" : "replaced"));
    }
    const toPlace: { slot: number }[] = [];
    const startFirst = spec.updateConfig.order === "start-first";
    for (let slot = 1; slot <= replicas; slot++) {
      const t = bySlot.get(slot);
      if (!t) {
        toPlace.push({ slot });
        continue;
      }
      if (leaving.has(t.id)) {
        if (!startFirst || TERMINAL_STATES.includes(t.state)) await this.retire(t, leaving.get(t.id)!);
        else handingOver.set(slot, t);
        toPlace.push({ slot });
        continue;
      }
      if (TERMINAL_STATES.includes(t.state)) {
        const restartAt = await this.restartAt(service, t, now);
        if (restartAt === null) continue; // the policy says no more
        if (restartAt > now) {
          this.wakeAt(service.id, restartAt);
          continue;
        }
        t.desiredState = "shutdown";
        await this.o.db.task.update({ where: { id: t.id }, data: { desiredState: "shutdown" } });
        toPlace.push({ slot });
      }
    }
    for (const [slot, t] of bySlot) if (slot > replicas) await this.retire(t, "scaled down");
    for (const [slot, t] of handingOver) if (slot > replicas) await this.retire(t, "scaled down");

    // What runs in each slot now: not what was just retired or is moving off a drained host.
    const live = [...bySlot]
      .filter(([slot, t]) => slot <= replicas && t.desiredState === "running" && !leaving.has(t.id))
      .map(([, t]) => t);
    const rolling = await this.rollOut(service, live, isCurrent, handingOver, now);
    toPlace.push(...rolling);
    const pending = tasks.filter((t) => t.state === "pending" && t.slot <= replicas && t.desiredState === "running");
    await this.assign(service, hosts, toPlace, pending);
    await this.launchAssigned(service);
  }

  private async templateOf(serviceId: string, version: number): Promise<string | null> {
    const key = `${serviceId}@${version}`;
    if (!this.templates.has(key)) {
      const spec = await this.specAt(serviceId, version).catch(() => null);
      if (this.templates.size >= SPECS_KEPT) this.templates.delete(this.templates.keys().next().value!);
      this.templates.set(key, spec ? templateHash(spec) : null);
    }
    return this.templates.get(key) ?? null;
  }

  /** One version's spec, from memory when it was read lately. */
  private async specAt(serviceId: string, version: number): Promise<ServiceSpec> {
    const key = `${serviceId}@${version}`;
    const kept = this.specs.get(key);
    if (kept) return kept;
    const spec = await this.o.store.specOf(serviceId, version);
    this.keepSpec(key, spec);
    return spec;
  }

  private keepSpec(key: string, spec: ServiceSpec): void {
    if (this.specs.size >= SPECS_KEPT && !this.specs.has(key)) this.specs.delete(this.specs.keys().next().value!);
    this.specs.set(key, spec);
  }

  /**
   * One step of a rolling update (Swarm's updater): slots still running an outdated template are
   * replaced `parallelism` at a time, the next batch once the last one is up (running, healthy
   * when it has a check, for `monitor`) and `delay` has passed. New tasks failing beyond
   * `maxFailureRatio` apply `failureAction`: pause, roll back, or continue. Gives the slots to
   * (re)place now; stop-first slots have their old task retired here.
   */
  private async rollOut(
    service: ServiceView,
    live: TaskRow[],
    isCurrent: Map<string, boolean>,
    handingOver: Map<number, TaskRow>,
    now: number,
  ): Promise<{ slot: number }[]> {
    const state = service.updateState;
    if (state !== "updating" && state !== "rollback_started") return [];
    const rollback = state === "rollback_started";
    const cfg = rollback ? service.spec.rollbackConfig : service.spec.updateConfig;
    const since = service.updateStartedAt ?? new Date(0);
    const failed = await this.o.db.task.findMany({
      where: { serviceId: service.id, version: service.version, state: { in: ["failed", "rejected"] }, endedAt: { gte: since } },
      select: { id: true, slot: true, message: true },
      take: 1000,
    });
    const replicas = service.spec.mode.kind === "replicated" ? service.spec.mode.replicas : live.length;
    if (failed.length > 0 && failed.length / Math.max(1, replicas) > cfg.maxFailureRatio && cfg.failureAction !== "continue") {
      const first = failed[0]!;
      const why = `update ${rollback ? "rollback " : ""}paused: task in slot ${first.slot} failed: ${first.message}`;
      if (cfg.failureAction === "rollback" && !rollback && service.previousVersion !== null) {
        this.o.logger.warn({ serviceId: service.id }, "update failed; rolling back");
        const previous = await this.specAt(service.id, service.previousVersion);
        await this.o.store.update(service.id, service.version, previous, null, { rollback: true });
        await this.o.store.setUpdateState(
          service.id,
          "rollback_started",
          `update failed (slot ${first.slot}: ${first.message}); rolling back`,
        );
        this.kick(service.id);
      } else {
        await this.o.store.setUpdateState(service.id, rollback ? "rollback_paused" : "paused", why);
      }
      return [];
    }

    const upAt = (t: TaskRow): number | null => {
      if (t.state !== "running" || !t.startedAt) return null;
      const spec = service.spec.task;
      if (spec.healthcheck?.Test?.length && spec.healthcheck.Test[0] !== "NONE" && t.health !== "healthy") return null;
      return t.startedAt.getTime() + cfg.monitorMs;
    };
    const fresh = live.filter((t) => isCurrent.get(t.id) && t.createdAt >= since);
    const settling = fresh.filter((t) => {
      const at = upAt(t);
      return at === null || at > now;
    });
    const outdated = live.filter((t) => !isCurrent.get(t.id) && !handingOver.has(t.slot)).sort((a, b) => a.slot - b.slot);
    for (const t of settling) {
      const at = upAt(t);
      if (at !== null) this.wakeAt(service.id, at);
    }
    if (outdated.length === 0) {
      if (settling.length === 0 && handingOver.size === 0) {
        await this.o.store.setUpdateState(
          service.id,
          rollback ? "rollback_completed" : "completed",
          rollback ? "rollback completed" : "update completed",
        );
      }
      return [];
    }
    // The next batch waits for the last one to be up, then for `delay`.
    const lastUp = Math.max(0, ...fresh.map((t) => upAt(t) ?? 0));
    if (settling.length > 0) return [];
    if (lastUp + cfg.delayMs > now) {
      this.wakeAt(service.id, lastUp + cfg.delayMs);
      return [];
    }
    const batch = outdated.slice(0, cfg.parallelism === 0 ? outdated.length : cfg.parallelism);
    for (const t of batch) if (cfg.order === "stop-first") await this.retire(t, rollback ? "rolled back" : "updated");
    return batch.map((t) => ({ slot: t.slot }));
  }

  /** The hosts of the service's team: kept ones when its team is known, else read with the service's team. */
  private hostsOf(serviceId: string): Promise<HostRow[]> {
    const teamId = this.teamOf.get(serviceId);
    return teamId ? this.hosts.of(teamId) : this.readHosts({ serviceId });
  }

  private readHosts(of: { teamId: string } | { serviceId: string }): Promise<HostRow[]> {
    const [teamId, serviceId] = "teamId" in of ? [of.teamId, null] : [null, of.serviceId];
    return this.o.db.$queryRaw<HostRow[]>`
      select id, name, labels, status::text as status, availability::text as availability,
             (facts->>'cpus')::float8 as cpus, (facts->>'memoryBytes')::float8 as "memoryBytes", facts->>'arch' as arch
      from host where "teamId" = coalesce(${teamId}::text, (select "teamId" from service where id = ${serviceId}::text))
      order by name`;
  }

  private async reconcileGlobal(service: ServiceView, tasks: TaskRow[], hosts: HostRow[]): Promise<void> {
    const req = await this.requestOf(service.spec);
    const candidates = await this.candidates(service, hosts);
    const byHost = new Map(tasks.map((t) => [t.hostId, t]));
    const assignTo = (hostId: string) =>
      this.o.db.task.create({
        data: { serviceId: service.id, slot: 0, hostId, version: service.version, desiredState: "running", state: "assigned" },
      });
    for (const c of candidates) {
      const t = byHost.get(c.attrs.id);
      // A global task stays with its host through an outage; it leaves when the host no longer qualifies.
      const why = refusal({ ...req, maxReplicasPerHost: 0, hostPorts: t ? [] : req.hostPorts }, { ...c, online: true });
      if (t && why !== undefined && why !== "resources") await this.retire(t, `host ${c.attrs.name} no longer qualifies (${why})`);
      if (!t && c.online && why === undefined) {
        await assignTo(c.attrs.id);
        this.active.amend(service.teamId, (counts) => withPlaced(counts, service.id, service.version, new Map([[c.attrs.id, 1]])));
      } else if (t && TERMINAL_STATES.includes(t.state) && why === undefined) {
        const restartAt = await this.restartAt(service, t, Date.now());
        if (restartAt === null) continue;
        if (restartAt > Date.now()) {
          this.wakeAt(service.id, restartAt);
          continue;
        }
        await this.o.db.task.update({ where: { id: t.id }, data: { desiredState: "shutdown" } });
        await assignTo(c.attrs.id);
        this.active.amend(service.teamId, (counts) => withPlaced(counts, service.id, service.version, new Map([[c.attrs.id, 1]])));
      }
    }
    await this.launchAssigned(service);
  }

  /**
   * When a slot whose task ended gets a new one, per the restart policy; null for never. A task
   * whose host was lost is replaced at once. Failures in a row back off beyond the policy's
   * delay (1 s doubling to a minute from the third), so a task that cannot run is never retried hot.
   */
  private async restartAt(service: ServiceView, t: TaskRow, now: number): Promise<number | null> {
    if (t.state === "orphaned" || t.state === "shutdown") return now;
    const policy = service.spec.task.restartPolicy;
    if (policy.condition === "none") return null;
    if (policy.condition === "on-failure" && t.state === "complete") return null;
    const since = policy.windowMs > 0 ? new Date(now - policy.windowMs) : new Date(0);
    const history = await this.o.db.task.findMany({
      where: {
        serviceId: t.serviceId,
        slot: t.slot,
        version: service.version,
        createdAt: { gte: since },
        state: { in: ["failed", "rejected", "complete"] },
      },
      orderBy: { createdAt: "desc" },
      take: 50,
    });
    if (policy.maxAttempts > 0 && history.length > policy.maxAttempts) return null;
    let inARow = 0;
    for (const h of history) if (h.state === "failed" || h.state === "rejected") inARow++;
    const backoff = inARow >= 3 ? Math.min(60_000, 1000 * 2 ** (inARow - 3)) : 0;
    return (t.endedAt?.getTime() ?? now) + Math.max(policy.delayMs, backoff);
  }

  private async requestOf(spec: ServiceSpec): Promise<PlacementRequest> {
    return {
      constraints: spec.task.placement.constraints.map(parseConstraint),
      spreadOver: spec.task.placement.preferences.map((p) => p.spread.slice("node.labels.".length)),
      maxReplicasPerHost: spec.task.placement.maxReplicasPerHost,
      platforms: spec.task.placement.platforms,
      reservations: spec.task.resources.reservations,
      // Only host-mode ports take a port on the task's host; ingress ones are the routing mesh's, on every host.
      hostPorts: spec.endpoint.ports
        .filter((p) => p.publishMode === "host" && p.published !== undefined)
        .map((p) => `${p.published}/${p.protocol}`),
    };
  }

  /**
   * What the hosts of the service's team run (kept between passes when its team is known), and
   * the service's recent failures per host.
   */
  private async taskCounts(serviceId: string, teamId: string | undefined): Promise<TaskCounts> {
    const [active, failures] = await Promise.all([
      teamId ? this.active.of(teamId) : this.readActive({ serviceId }),
      this.o.db.$queryRaw<TaskCounts["failures"]>`
        select "hostId", count(*)::int as n from task
        where "serviceId" = ${serviceId} and "hostId" is not null and state in ('failed', 'rejected')
          and "endedAt" >= ${new Date(Date.now() - FAILURE_WINDOW_MS)}
        group by 1`,
    ]);
    return { active, failures };
  }

  /**
   * Active tasks per host, service and version on a team's hosts. By service, the team comes from
   * it in the same statement, so this can be read before the service itself.
   */
  private readActive(of: { teamId: string } | { serviceId: string }): Promise<ActiveCount[]> {
    // The team's id, or null for the service's team (coalesce: one statement serves both).
    const [teamId, serviceId] = "teamId" in of ? [of.teamId, null] : [null, of.serviceId];
    return this.o.db.$queryRaw<ActiveCount[]>`
      select t."hostId", t."serviceId", t.version, count(*)::int as n
      from task t join host h on h.id = t."hostId"
      where h."teamId" = coalesce(${teamId}::text, (select "teamId" from service where id = ${serviceId}::text))
        and t."desiredState" = 'running' and t.state = any(${ACTIVE_STATES}::text[])
      group by 1, 2, 3`;
  }

  /** The team's hosts as the scheduler sees them: capacity, what is assigned there, recent failures. */
  private async candidates(service: ServiceView, hosts: HostRow[]): Promise<HostCandidate[]> {
    const ahead = this.countsAhead.get(service.id);
    this.countsAhead.delete(service.id); // taken once: a second placement in a pass reads afresh
    const { active, failures } = await (ahead ?? this.taskCounts(service.id, service.teamId));
    const failed = new Map(failures.map((f) => [f.hostId, f.n]));
    // The specs of what runs there (for reservations and host ports): each version read once, together.
    const specs = new Map<string, ServiceSpec | null>([[`${service.id}@${service.version}`, service.spec]]);
    const missing = [...new Set(active.map((t) => `${t.serviceId}@${t.version}`))].filter((k) => !specs.has(k));
    await Promise.all(
      missing.map(async (key) => {
        const at = key.lastIndexOf("@");
        specs.set(key, await this.specAt(key.slice(0, at), Number(key.slice(at + 1))).catch(() => null));
      }),
    );
    const activeOn = new Map<string, typeof active>();
    for (const t of active) {
      const on = activeOn.get(t.hostId);
      if (on) on.push(t);
      else activeOn.set(t.hostId, [t]);
    }
    const out: HostCandidate[] = [];
    for (const h of hosts) {
      const c: HostCandidate = {
        attrs: { id: h.id, name: h.name, labels: labelsOf(h.labels), os: "linux", arch: h.arch ?? "" },
        online: h.status === "online",
        availability: h.availability,
        // A host that has not reported its facts has no known room: it takes no reservations.
        capacity: { nanoCpus: (h.cpus ?? 0) * 1e9, memoryBytes: h.memoryBytes ?? 0 },
        reserved: { nanoCpus: 0, memoryBytes: 0 },
        tasks: 0,
        serviceTasks: 0,
        hostPorts: new Set(),
        recentFailures: failed.get(h.id) ?? 0,
      };
      for (const t of activeOn.get(h.id) ?? []) {
        const n = t.n;
        c.tasks += n;
        if (t.serviceId === service.id) c.serviceTasks += n;
        const s = specs.get(`${t.serviceId}@${t.version}`);
        if (!s) continue;
        c.reserved.nanoCpus += n * (s.task.resources.reservations.nanoCpus ?? 0);
        c.reserved.memoryBytes += n * (s.task.resources.reservations.memoryBytes ?? 0);
        for (const p of s.endpoint.ports)
          if (p.publishMode === "host" && p.published !== undefined) (c.hostPorts as Set<string>).add(`${p.published}/${p.protocol}`);
      }
      out.push(c);
    }
    return out;
  }

  /** New tasks for `slots`, and another try for pending ones: each gets a host or a pending reason. */
  private async assign(service: ServiceView, hosts: HostRow[], slots: { slot: number }[], pending: TaskRow[]): Promise<void> {
    if (slots.length === 0 && pending.length === 0) return;
    const req = await this.requestOf(service.spec);
    const placements = place(req, await this.candidates(service, hosts), slots.length + pending.length);
    const outcome = (p: (typeof placements)[number]) =>
      "hostId" in p ? { hostId: p.hostId, state: "assigned", message: "" } : { hostId: null, state: "pending", message: p.pending };
    // New tasks in one statement: a service of thousands is placed in one round trip. A row is
    // its slot and an index into the batch's few outcomes (a host, or a pending reason); Postgres
    // makes the ids (25 hex digits, 100 random bits; Swarm's are 25 of [0-9a-z]). Arrays of
    // numbers cost little to hand over; a JSON document of every row cost more than the insert.
    if (slots.length) {
      const outcomes = new Map<string, number>();
      const hostIds: (string | null)[] = [];
      const messages: string[] = [];
      const outcomeOf = slots.map((_, i) => {
        const p = placements[i]!;
        const key = "hostId" in p ? `h:${p.hostId}` : `p:${p.pending}`;
        let at = outcomes.get(key);
        if (at === undefined) {
          at = hostIds.length + 1; // Postgres arrays count from 1
          outcomes.set(key, at);
          hostIds.push("hostId" in p ? p.hostId : null);
          messages.push("hostId" in p ? "" : p.pending);
        }
        return at;
      });
      // The thousands of numbers travel as two array literals (text): cheaper to hand over than as
      // parameters of thousands of elements.
      await this.o.db.$executeRaw`
        with b as (select ${hostIds}::text[] as host, ${messages}::text[] as message)
        insert into task (id, "serviceId", slot, "hostId", version, "desiredState", state, message, "updatedAt")
        select left(replace(gen_random_uuid()::text, '-', ''), 25), ${service.id}, r.slot, b.host[r.o],
               ${service.version}, 'running', case when b.host[r.o] is null then 'pending' else 'assigned' end, b.message[r.o], now()
        from b, unnest(${`{${slots.map((x) => x.slot).join(",")}}`}::int[], ${`{${outcomeOf.join(",")}}`}::int[]) as r(slot, o)`;
      const perHost = new Map<string, number>();
      for (const p of placements.slice(0, slots.length)) if ("hostId" in p) perHost.set(p.hostId, (perHost.get(p.hostId) ?? 0) + 1);
      this.active.amend(service.teamId, (counts) => withPlaced(counts, service.id, service.version, perHost));
    }
    for (const [i, existing] of pending.entries()) {
      const data = outcome(placements[slots.length + i]!);
      if (existing.state !== data.state || existing.message !== data.message) {
        await this.o.db.task.update({ where: { id: existing.id }, data: { ...data, version: service.version } });
        this.active.forget();
      }
    }
  }

  // ---- actions ----

  /**
   * Starts every assigned task of the service that is not already being started here, at most
   * MAX_STARTS at once across services (a service of thousands must not open thousands of
   * commands and database calls together); the rest wait their turn in order.
   */
  private async launchAssigned(service: ServiceView): Promise<void> {
    const tasks = await this.o.db.task.findMany({
      where: { serviceId: service.id, desiredState: "running", state: { in: ["assigned", "starting"] } },
      orderBy: { slot: "asc" },
    });
    for (const t of tasks) {
      // A host not linked here waits: its link (a status event) kicks the service again.
      if (this.inFlight.has(t.id) || !t.hostId || !this.o.gateway.isConnected(t.hostId)) continue;
      this.inFlight.add(t.id);
      this.startQueue.push({ task: t, service });
    }
    this.pumpStarts();
  }

  private pumpStarts(): void {
    while (this.starting < MAX_STARTS && this.startQueue.length) {
      const { task: t, service } = this.startQueue.shift()!;
      this.starting++;
      const started: Promise<void> = this.startTask(t, service)
        .catch((err) => this.fail(err, "task start", { taskId: t.id }))
        .finally(() => {
          this.starting--;
          this.inFlight.delete(t.id);
          this.startsInFlight.delete(started);
          this.kick(t.serviceId);
          this.pumpStarts();
        });
      this.startsInFlight.add(started);
    }
  }

  private async startTask(t: TaskRow, service: ServiceView): Promise<void> {
    const hostId = t.hostId!;
    const spec = t.version === service.version ? service.spec : await this.specAt(t.serviceId, t.version);
    const identity = { serviceId: t.serviceId, serviceName: service.name, taskId: t.id, slot: t.slot, hostId };
    const name = taskName(identity);
    await this.o.db.task.update({ where: { id: t.id }, data: { state: "starting" } });
    try {
      const config = taskContainerConfig(spec, identity);
      const files = await this.o.store.taskFiles(service.teamId, spec);
      const create = { name, config, ...(files.length ? { files } : {}) };
      let id: string;
      try {
        id = (await this.o.gateway.command(hostId, "containers.create", create)).Id;
      } catch (e) {
        if (!isDomainError(e)) throw e;
        if (e.code === "CONFLICT") {
          // Created before a restart of this process: take it over.
          id = (await this.o.gateway.command(hostId, "containers.inspect", { id: name })).Id;
        } else if (e.code === "NOT_FOUND") {
          await this.pull(hostId, service.teamId, spec.task.image);
          id = (await this.o.gateway.command(hostId, "containers.create", create)).Id;
        } else throw e;
      }
      await this.o.db.task.update({ where: { id: t.id }, data: { containerId: id } });
      const current = await this.o.db.task.findUnique({ where: { id: t.id } });
      if (current?.desiredState !== "running") return; // retired meanwhile: the next pass removes it
      const inspect = await this.o.gateway.command(hostId, "containers.inspect", { id });
      if (!inspect.State.Running) await this.o.gateway.command(hostId, "containers.start", { id });
      await this.o.db.task.updateMany({
        where: { id: t.id, state: "starting" },
        data: { state: "running", startedAt: new Date(), message: "" },
      });
    } catch (e) {
      if (isDomainError(e) && e.code === "HOST_OFFLINE") {
        // Not linked to this process (yet): a new leader's agents are still re-linking. The task
        // waits assigned; the link (or the host's loss, which moves it) brings it up again.
        await this.o.db.task.updateMany({ where: { id: t.id, state: "starting" }, data: { state: "assigned", message: e.message } });
        return;
      }
      const message = e instanceof Error ? e.message : String(e);
      await this.o.db.task.update({
        where: { id: t.id },
        data: { state: "rejected", endedAt: new Date(), message: message.slice(0, 1000) },
      });
      this.active.forget();
    }
  }

  private async pull(hostId: string, teamId: string, image: string): Promise<void> {
    const registry = await registryAccessFor(this.o.db, this.o.secretBox, teamId, parseReference(image).domain);
    await this.o.gateway.command(hostId, "images.pull", { reference: image, registry }, { timeoutMs: PULL_TIMEOUT_MS });
  }

  /** Stops a task for good: it becomes history, and its container is stopped and removed. */
  private async retire(t: TaskRow, why: string): Promise<void> {
    // Counts read ahead or kept may hold this task as running: the pass's placement reads them afresh.
    this.countsAhead.delete(t.serviceId);
    t.desiredState = "shutdown";
    const ended = TERMINAL_STATES.includes(t.state);
    await this.o.db.task.update({
      where: { id: t.id },
      data: { desiredState: "shutdown", ...(ended ? {} : { state: "shutdown", endedAt: new Date(), message: why }) },
    });
    if (!ended) this.active.forget();
    if (t.hostId && t.containerId && !ended) void this.removeContainer(t.hostId, t.containerId, t.id);
  }

  private async removeContainer(hostId: string, containerId: string, taskId: string): Promise<void> {
    if (this.inFlight.has(taskId)) return;
    this.inFlight.add(taskId);
    try {
      await this.o.gateway.command(hostId, "containers.stop", { id: containerId }, { timeoutMs: 120_000 }).catch(() => undefined);
      await this.o.gateway.command(hostId, "containers.remove", { id: containerId, force: true });
    } catch (err) {
      // Offline or gone: the host's next sync removes it.
      if (!(isDomainError(err) && (err.code === "NOT_FOUND" || err.code === "HOST_OFFLINE"))) this.fail(err, "task removal", { taskId });
    } finally {
      this.inFlight.delete(taskId);
    }
  }

  /** Keeps each slot's last SLOT_HISTORY ended tasks; older ones go, with any container they left. */
  private async pruneHistory(serviceId: string): Promise<void> {
    const old = await this.o.db.task.findMany({
      where: { serviceId, desiredState: "shutdown" },
      orderBy: { createdAt: "desc" },
      select: { id: true, slot: true, hostId: true, containerId: true },
    });
    const kept = new Map<string, number>();
    const drop: typeof old = [];
    for (const t of old) {
      const key = `${t.slot}/${t.slot === 0 ? t.hostId : ""}`;
      const n = (kept.get(key) ?? 0) + 1;
      kept.set(key, n);
      if (n > SLOT_HISTORY) drop.push(t);
    }
    if (drop.length === 0) return;
    await this.o.db.task.deleteMany({ where: { id: { in: drop.map((t) => t.id) } } });
    for (const t of drop) if (t.hostId && t.containerId) void this.removeContainer(t.hostId, t.containerId, t.id);
  }
}

interface TaskCounts {
  active: ActiveCount[];
  failures: { hostId: string; n: number }[];
}

function labelsOf(raw: unknown): Record<string, string> {
  if (!raw || typeof raw !== "object") return {};
  return Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === "string"));
}
