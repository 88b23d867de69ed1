import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Db, Prisma } from "@berth/db";
import type { TaskFile } from "@berth/protocol";
import type { ServiceFileStore } from "../service-files/index.ts";
import { conflict, invalid, isUniqueViolation, notFound } from "../errors.ts";
import { assignIngressPorts } from "./ingress-ports.ts";
import { describeSpecIssues, type ServiceSpec, ServiceSpecSchema } from "./spec.ts";

/*
 * Services in Postgres: each change of a spec is a new version (kept, so a rollback returns to the
 * previous one), written only when the caller names the version it changed, so two writers never
 * overwrite each other (Swarm's `version` check). The reconciler reads what is here and acts.
 */

/** The NOTIFY channel that tells the reconciler's leader a service changed (payload: its id, or * for all). */
export const SERVICES_CHANNEL = "berth_services";

/** Tells the leading reconciler, on whichever process it runs, to look at a service (or all: "*"). */
export async function notifyServiceChanged(db: Pick<Db, "$executeRaw">, serviceId: string): Promise<void> {
  await db.$executeRaw`select pg_notify(${SERVICES_CHANNEL}, ${serviceId})`;
}

export type UpdateState = "updating" | "paused" | "completed" | "rollback_started" | "rollback_paused" | "rollback_completed";

export interface ServiceView {
  id: string;
  teamId: string;
  name: string;
  version: number;
  previousVersion: number | null;
  spec: ServiceSpec;
  updateState: UpdateState | null;
  updateMessage: string;
  updateStartedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** JSON with keys sorted at every level, so equal specs hash equal whatever order they were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

export const specHash = (spec: ServiceSpec): string => createHash("sha256").update(canonical(spec)).digest("hex");

/**
 * What a task runs: a task whose version has another template hash is outdated and is replaced by
 * an update; a change elsewhere (replicas, update settings, labels of the service) touches no task.
 */
export function templateHash(spec: ServiceSpec): string {
  return createHash("sha256")
    .update(canonical({ task: spec.task, ports: spec.endpoint.ports }))
    .digest("hex");
}

export function parseSpec(input: unknown): ServiceSpec {
  const r = ServiceSpecSchema.safeParse(input);
  if (!r.success) throw invalid(`invalid service spec: ${describeSpecIssues(r.error)}`);
  return r.data;
}

/** A service's current spec is its newest version (every change, rollbacks too, adds one): read only that. */
const CURRENT_VERSION = { versions: { orderBy: { version: "desc" }, take: 1 } } satisfies Prisma.ServiceInclude;

type ServiceRow = Prisma.ServiceGetPayload<{ include: { versions: true } }>;

type ServiceFields = Omit<ServiceRow, "versions" | "createdById" | "updateEndedAt">;

function view(row: ServiceRow): ServiceView {
  const current = row.versions.find((v) => v.version === row.version);
  if (!current) throw new Error(`service ${row.id} has no spec for its version ${row.version}`);
  return viewOf(row, current.spec);
}

function viewOf(row: ServiceFields, spec: unknown): ServiceView {
  return {
    id: row.id,
    teamId: row.teamId,
    name: row.name,
    version: row.version,
    previousVersion: row.previousVersion,
    spec: ServiceSpecSchema.parse(spec),
    updateState: row.updateState as UpdateState | null,
    updateMessage: row.updateMessage,
    updateStartedAt: row.updateStartedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * `changed` (a service id and, when known, its team; or "*") fires after a change commits, for the reconciler when it leads
 * in this process: it starts at once instead of a NOTIFY's round trip later (the NOTIFY still goes,
 * for leaders elsewhere; the reconciler coalesces the two).
 */
export class ServiceStore extends EventEmitter<{ changed: [serviceId: string, teamId?: string] }> {
  /** `files` resolves the secrets and configs specs name; without it, a spec naming any is refused. */
  constructor(
    private readonly db: Db,
    private readonly files?: ServiceFileStore,
  ) {
    super();
  }

  /** The secrets and configs a task of `spec` gets as files, read now (the reconciler sends them with the create). */
  async taskFiles(teamId: string, spec: ServiceSpec): Promise<TaskFile[]> {
    if (!spec.task.secrets.length && !spec.task.configs.length) return [];
    if (!this.files) throw invalid("secrets and configs are not available here");
    return this.files.filesFor(teamId, spec.task);
  }

  /** Tells the leader, here at once and elsewhere through Postgres, that `id` (or "*") changed. */
  private async announce(id: string, teamId?: string): Promise<void> {
    this.emit("changed", id, teamId);
    await notifyServiceChanged(this.db, id);
  }

  async create(teamId: string, input: unknown, actorId: string | null): Promise<ServiceView> {
    const spec = await assignIngressPorts(this.db, teamId, null, parseSpec(input));
    await this.taskFiles(teamId, spec);
    try {
      // One statement: the service's row is written and committed in one round trip, so the
      // reconciler hears of it sooner. Ids as Postgres makes tasks' (25 hex digits, 100 random bits).
      const [row] = await this.db.$queryRaw<(ServiceFields & { spec: unknown })[]>`
        with s as (
          insert into service (id, "teamId", name, "createdById", "updatedAt")
          values (left(replace(gen_random_uuid()::text, '-', ''), 25), ${teamId}, ${spec.name}, ${actorId}::text, now())
          returning *
        ), v as (
          insert into service_version ("serviceId", version, spec, "specHash", "createdById")
          select s.id, 1, ${JSON.stringify(spec)}::jsonb, ${specHash(spec)}::text, ${actorId}::text from s
          returning spec
        )
        select s.id, s."teamId", s.name, s.version, s."previousVersion", s."updateState", s."updateMessage",
               s."updateStartedAt", s."createdAt", s."updatedAt", v.spec
        from s, v`;
      if (!row) throw new Error("the service's insert returned no row");
      await this.announce(row.id, teamId);
      return viewOf(row, row.spec);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a service named ${spec.name} already exists in this team`);
      throw e;
    }
  }

  async get(id: string): Promise<ServiceView> {
    // One statement, so the service and its current spec come from one snapshot (and one round
    // trip: the reconciler reads this at the start of every pass).
    const [row] = await this.db.$queryRaw<(ServiceFields & { spec: unknown })[]>`
      select s.id, s."teamId", s.name, s.version, s."previousVersion", s."updateState", s."updateMessage",
             s."updateStartedAt", s."createdAt", s."updatedAt", v.spec
      from service s join service_version v on v."serviceId" = s.id and v.version = s.version
      where s.id = ${id}`;
    if (!row) throw notFound(`service ${id}`);
    return viewOf(row, row.spec);
  }

  async list(teamIds: readonly string[]): Promise<ServiceView[]> {
    const rows = await this.db.service.findMany({
      where: { teamId: { in: [...teamIds] } },
      include: CURRENT_VERSION,
      orderBy: { name: "asc" },
    });
    return rows.map(view);
  }

  /** The spec of one version (the reconciler needs old ones to tell what a task runs). */
  async specOf(serviceId: string, version: number): Promise<ServiceSpec> {
    const v = await this.db.serviceVersion.findUnique({ where: { serviceId_version: { serviceId, version } } });
    if (!v) throw notFound(`version ${version} of service ${serviceId}`);
    return ServiceSpecSchema.parse(v.spec);
  }

  /**
   * A new spec, if `expectedVersion` is still the current one. An unchanged spec makes no version
   * (a redeploy of the same file is a no-op); `force` redeploys every task anyway.
   */
  async update(
    id: string,
    expectedVersion: number,
    input: unknown,
    actorId: string | null,
    opts: { force?: boolean; rollback?: boolean } = {},
  ): Promise<ServiceView> {
    let spec = parseSpec(input);
    const updated = await this.db.$transaction(async (tx) => {
      // The row lock orders concurrent writers; the version check refuses the later one.
      await tx.$executeRaw`select 1 from service where id = ${id} for update`;
      const row = await tx.service.findUnique({ where: { id }, include: { versions: { where: { version: expectedVersion } } } });
      if (!row) throw notFound(`service ${id}`);
      if (row.version !== expectedVersion)
        throw conflict(
          `service ${row.name} changed meanwhile: version ${row.version} is current, not ${expectedVersion}; read it again and retry`,
        );
      if (spec.name !== row.name) throw invalid(`a service cannot be renamed (${row.name} → ${spec.name})`);
      await this.taskFiles(row.teamId, spec);
      const current = ServiceSpecSchema.parse(row.versions[0]!.spec);
      spec = await assignIngressPorts(this.db, row.teamId, id, spec, current);
      if (opts.force) spec = { ...spec, task: { ...spec.task, forceUpdate: current.task.forceUpdate + 1 } };
      if (specHash(spec) === specHash(current)) return view({ ...row, versions: row.versions });
      const version = row.version + 1;
      const rollsTasks = templateHash(spec) !== templateHash(current);
      await tx.serviceVersion.create({
        data: { serviceId: id, version, spec: spec as Prisma.InputJsonValue, specHash: specHash(spec), createdById: actorId },
      });
      const updated = await tx.service.update({
        where: { id },
        data: {
          version,
          previousVersion: row.version,
          ...(rollsTasks
            ? {
                updateState: opts.rollback ? "rollback_started" : "updating",
                updateMessage: opts.rollback ? "manually requested rollback" : "",
                updateStartedAt: new Date(),
                updateEndedAt: null,
              }
            : {}),
        },
        include: { versions: { where: { version } } },
      });
      await notifyServiceChanged(tx, id); // delivered at commit
      return view(updated);
    });
    this.emit("changed", id, updated.teamId);
    return updated;
  }

  /** Swarm's rollback: the previous version's spec becomes a new version. */
  async rollback(id: string, expectedVersion: number, actorId: string | null): Promise<ServiceView> {
    const s = await this.get(id);
    if (s.previousVersion === null) throw conflict(`service ${s.name} has no previous spec to roll back to`);
    const previous = await this.specOf(id, s.previousVersion);
    return this.update(id, expectedVersion, previous, actorId, { rollback: true });
  }

  async scale(id: string, expectedVersion: number, replicas: number, actorId: string | null): Promise<ServiceView> {
    const s = await this.get(id);
    if (s.spec.mode.kind !== "replicated") throw invalid(`service ${s.name} is global: it runs one task per host and cannot be scaled`);
    return this.update(id, expectedVersion, { ...s.spec, mode: { kind: "replicated", replicas } }, actorId);
  }

  /** Pauses an update or rollback in progress: no further batch starts until it is resumed. */
  async pause(id: string): Promise<ServiceView> {
    const s = await this.get(id);
    if (s.updateState !== "updating" && s.updateState !== "rollback_started") throw conflict(`service ${s.name} has no update in progress`);
    await this.setUpdateState(id, s.updateState === "updating" ? "paused" : "rollback_paused", "paused by a user");
    await this.announce(id);
    return this.get(id);
  }

  /**
   * Resumes a paused update or rollback where it stopped. Failures before the pause no longer
   * count against `maxFailureRatio` (they paused it once already).
   */
  async resume(id: string): Promise<ServiceView> {
    const s = await this.get(id);
    if (s.updateState !== "paused" && s.updateState !== "rollback_paused") throw conflict(`service ${s.name} has no paused update`);
    await this.db.service.update({ where: { id }, data: { updateStartedAt: new Date() } });
    await this.setUpdateState(id, s.updateState === "paused" ? "updating" : "rollback_started", "resumed");
    await this.announce(id);
    return this.get(id);
  }

  /** Records how an update is going (the reconciler's updater writes this). */
  async setUpdateState(id: string, state: UpdateState, message = ""): Promise<void> {
    const ended = state === "completed" || state === "rollback_completed";
    await this.db.service.update({
      where: { id },
      data: { updateState: state, updateMessage: message, ...(ended ? { updateEndedAt: new Date() } : {}) },
    });
  }

  /** Deletes the service and its tasks' records; the reconciler removes the containers it finds left. */
  async remove(id: string): Promise<void> {
    await this.db.service.delete({ where: { id } }).catch((e: { code?: string }) => {
      if (e.code === "P2025") throw notFound(`service ${id}`);
      throw e;
    });
    await this.announce("*");
  }
}
