import { timingSafeEqual } from "node:crypto";
import type { Db, Prisma } from "@berth/db";
import { MAX_TASK_FILES_BYTES, type TaskFile } from "@berth/protocol";
import { conflict, invalid, isUniqueViolation, notFound } from "../errors.ts";
import type { SecretBox } from "../secret-box.ts";
import { fileTarget, MAX_SERVICE_FILE_BYTES, ServiceFileNameSchema, type ServiceFileKind, type ServiceFileRef } from "./schema.ts";

/** A secret or config as listed: a secret's data is never part of it. */
export interface ServiceFileView {
  id: string;
  kind: ServiceFileKind;
  teamId: string;
  name: string;
  labels: Record<string, string>;
  size: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** A config's data, base64 (Swarm returns it); null for a secret. */
  data: string | null;
}

type Row = {
  id: string;
  kind: string;
  teamId: string;
  name: string;
  labels: Prisma.JsonValue;
  data: string;
  size: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

function view(r: Row): ServiceFileView {
  const kind = r.kind as ServiceFileKind;
  return {
    id: r.id,
    kind,
    teamId: r.teamId,
    name: r.name,
    labels: (r.labels ?? {}) as Record<string, string>,
    size: r.size,
    version: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    data: kind === "config" ? r.data : null,
  };
}

/** A service's references to secrets and configs, as its spec holds them. */
export interface ServiceFileRefs {
  secrets: readonly ServiceFileRef[];
  configs: readonly ServiceFileRef[];
}

/**
 * Secrets and configs of teams. A secret's data is sealed with the control plane's key; neither
 * kind's data changes once made (Swarm's rule: only labels are updated), so a task's files are
 * what its service was given; one in use by a service is not removed.
 */
export class ServiceFileStore {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  private seal(kind: ServiceFileKind, data: Buffer): string {
    return kind === "secret" ? this.box.seal(data.toString("base64")) : data.toString("base64");
  }

  private open(r: Pick<Row, "kind" | "data">): Buffer {
    return Buffer.from(r.kind === "secret" ? this.box.open(r.data) : r.data, "base64");
  }

  async create(
    teamId: string,
    kind: ServiceFileKind,
    input: { name: string; labels?: Record<string, string>; data: Buffer },
    actorId: string | null,
  ): Promise<ServiceFileView> {
    const name = ServiceFileNameSchema.parse(input.name);
    if (input.data.length === 0 || input.data.length > MAX_SERVICE_FILE_BYTES)
      throw invalid(`${kind} data must be larger than 0 and at most ${MAX_SERVICE_FILE_BYTES / 1024} KiB (got ${input.data.length} bytes)`);
    try {
      const row = await this.db.serviceFile.create({
        data: {
          kind,
          teamId,
          name,
          labels: input.labels ?? {},
          data: this.seal(kind, input.data),
          size: input.data.length,
          createdById: actorId,
        },
      });
      return view(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`${kind} ${name} already exists`);
      throw e;
    }
  }

  async list(teamIds: readonly string[], kind: ServiceFileKind): Promise<ServiceFileView[]> {
    const rows = await this.db.serviceFile.findMany({ where: { teamId: { in: [...teamIds] }, kind }, orderBy: { name: "asc" } });
    return rows.map(view);
  }

  async get(id: string, kind: ServiceFileKind): Promise<ServiceFileView> {
    const row = await this.db.serviceFile.findFirst({ where: { id, kind } });
    if (!row) throw notFound(`${kind} ${id}`);
    return view(row);
  }

  /** Only labels change; data given must be what is stored (as `docker stack deploy` sends it again). */
  async update(
    id: string,
    kind: ServiceFileKind,
    expectedVersion: number,
    input: { name?: string; labels?: Record<string, string>; data?: Buffer | null },
  ): Promise<ServiceFileView> {
    const row = await this.db.serviceFile.findFirst({ where: { id, kind } });
    if (!row) throw notFound(`${kind} ${id}`);
    if ((input.name !== undefined && input.name !== row.name) || (input.data?.length && !this.sameData(row, input.data)))
      throw invalid("only updates to Labels are allowed");
    const { count } = await this.db.serviceFile.updateMany({
      where: { id, version: expectedVersion },
      data: { labels: input.labels ?? {}, version: { increment: 1 } },
    });
    if (count === 0)
      throw conflict(
        `${kind} ${row.name} changed meanwhile: version ${row.version} is current, not ${expectedVersion}; read it again and retry`,
      );
    return this.get(id, kind);
  }

  /** Whether the stored data is `data` (a stack's redeploy sends its secrets again). */
  async holds(id: string, kind: ServiceFileKind, data: Buffer): Promise<boolean> {
    const row = await this.db.serviceFile.findFirst({ where: { id, kind } });
    if (!row) throw notFound(`${kind} ${id}`);
    return this.sameData(row, data);
  }

  /** Compared in constant time: a secret's content must not leak through timing. */
  private sameData(row: Pick<Row, "kind" | "data">, data: Buffer): boolean {
    const stored = this.open(row);
    return stored.length === data.length && timingSafeEqual(stored, data);
  }

  /** Refused while a service of its team refers to it, naming the services (as Swarm does). */
  async remove(id: string, kind: ServiceFileKind): Promise<void> {
    const row = await this.db.serviceFile.findFirst({ where: { id, kind } });
    if (!row) throw notFound(`${kind} ${id}`);
    const users = await this.usersOf(row.teamId, kind, row.name);
    if (users.length)
      throw invalid(`${kind} '${row.name}' is in use by the following service${users.length > 1 ? "s" : ""}: ${users.join(", ")}`);
    await this.db.serviceFile.deleteMany({ where: { id } });
  }

  /** The names of the team's services whose current spec refers to the named secret or config. */
  private async usersOf(teamId: string, kind: ServiceFileKind, name: string): Promise<string[]> {
    const key = kind === "secret" ? "secrets" : "configs";
    const rows = await this.db.$queryRaw<{ name: string }[]>`
      select s.name from service s
      join service_version v on v."serviceId" = s.id and v.version = s.version
      where s."teamId" = ${teamId}
        and exists (select 1 from jsonb_array_elements(coalesce(v.spec -> 'task' -> ${key}::text, '[]'::jsonb)) e where e ->> 'source' = ${name})
      order by s.name`;
    return rows.map((r) => r.name);
  }

  /** Checks that a spec's references exist in the team and fit in one task: at a service's create and update. */
  async checkRefs(teamId: string, refs: ServiceFileRefs): Promise<void> {
    await this.filesFor(teamId, refs);
  }

  /** The files a task of a service with these references gets (the reconciler sends them with its create). */
  /** The team's secrets by name, base64, for a build's RUN --mount=type=secret (each must exist). */
  async secretValues(teamId: string, names: readonly string[]): Promise<Record<string, string>> {
    if (names.length === 0) return {};
    const rows = await this.db.serviceFile.findMany({ where: { teamId, kind: "secret", name: { in: [...names] } } });
    const out: Record<string, string> = {};
    for (const name of names) {
      const row = rows.find((r) => r.name === name);
      if (!row) throw notFound(`secret ${name}`);
      out[name] = this.open(row).toString("base64");
    }
    return out;
  }

  async filesFor(teamId: string, refs: ServiceFileRefs): Promise<TaskFile[]> {
    const wanted = [
      ...refs.secrets.map((r) => ({ kind: "secret" as const, ref: r })),
      ...refs.configs.map((r) => ({ kind: "config" as const, ref: r })),
    ];
    if (!wanted.length) return [];
    const rows = await this.db.serviceFile.findMany({
      where: { teamId, OR: wanted.map((w) => ({ kind: w.kind, name: w.ref.source })) },
    });
    const files: TaskFile[] = [];
    const targets = new Set<string>();
    let total = 0;
    for (const { kind, ref } of wanted) {
      const row = rows.find((r) => r.kind === kind && r.name === ref.source);
      if (!row) throw notFound(`${kind} ${ref.source}`);
      const target = fileTarget(kind, ref);
      if (targets.has(target)) throw invalid(`two secrets or configs have the target ${target}`);
      targets.add(target);
      total += row.size;
      files.push({ target, data: this.open(row).toString("base64"), uid: ref.uid, gid: ref.gid, mode: ref.mode });
    }
    if (total > MAX_TASK_FILES_BYTES)
      throw invalid(`the secrets and configs of a task total ${total} bytes; at most ${MAX_TASK_FILES_BYTES} fit`);
    return files;
  }
}
