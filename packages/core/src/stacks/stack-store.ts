import { createHash, randomBytes } from "node:crypto";
import type { Db, Prisma } from "@berth/db";
import { z } from "zod";
import { getContainerPolicy } from "../container-policy.ts";
import { conflict, invalid, isDomainError, isUniqueViolation, notFound } from "../errors.ts";
import { specPolicyCheck } from "../services/spec-policy.ts";
import type { SecretBox } from "../secret-box.ts";
import { type ComposeProject, loadCompose } from "./compose/index.ts";
import {
  deployFleetStack,
  type FleetDeployOptions,
  type FleetDeployResult,
  type FleetStores,
  removeFleetStack,
  StackDeployError,
  stopFleetStack,
} from "./fleet-deploy.ts";
import { FleetPlanError, planFleet, STACK_LABEL } from "./fleet-plan.ts";
import { gitContexts, inlineContexts, type StackContexts } from "./build-contexts.ts";
import { deployHostStack, HostDeployError, type HostDeployResult, type HostOps, removeHostStack, stopHostStack } from "./host-deploy.ts";
import { type HostPlan, HostPlanError, planHost } from "./host-plan.ts";
import { readGitStack, type StackGitSource, StackGitSourceSchema } from "./git-source.ts";

/*
 * Stacks in Postgres: a stack's source (its compose files, and the files they read), its env
 * values (sealed: they often hold passwords) and every deploy of it. A deploy records the source
 * as deployed, so a rollback redeploys exactly that; what it changed; and how it ended (the step
 * that failed, when one did: what ran before it is left running). A source that does not load or
 * plan is refused with every problem, before anything is saved or changed.
 *
 * A git stack's files are read from its repository (git-source.ts): at create, at every deploy,
 * when its poll finds a new commit, and when its push webhook is called. A new commit whose stack
 * files are unchanged (by digest) is noted and deploys nothing.
 */

/** `docker stack deploy`'s namespace rule: it prefixes every object's name, so it stays short and plain. */
export const StackNameSchema = z
  .string()
  .min(1)
  .max(48)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, "a stack name is lower-case letters, digits, '-' and '_', starting with a letter or digit");

const MAX_FILES = 32;
const MAX_SOURCE_BYTES = 1024 * 1024;

export const StackSourceSchema = z
  .object({
    /** The compose files and the files they read (env files, `file:` secrets and configs), by path. */
    files: z.record(z.string().min(1).max(255), z.string()),
    /** Which of `files` are compose files, merged in this order. */
    composeFiles: z.array(z.string().min(1).max(255)).min(1).max(8),
    profiles: z.array(z.string().min(1).max(64)).max(16).default([]),
  })
  .superRefine((s, ctx) => {
    const names = Object.keys(s.files);
    if (names.length > MAX_FILES) ctx.addIssue({ code: "custom", path: ["files"], message: `at most ${MAX_FILES} files` });
    const bytes = names.reduce((n, k) => n + Buffer.byteLength(s.files[k]!), 0);
    if (bytes > MAX_SOURCE_BYTES) ctx.addIssue({ code: "custom", path: ["files"], message: `at most ${MAX_SOURCE_BYTES} bytes in all` });
    for (const [i, f] of s.composeFiles.entries())
      if (!(f in s.files)) ctx.addIssue({ code: "custom", path: ["composeFiles", i], message: `${f} is not among the stack's files` });
  });
export type StackSource = z.infer<typeof StackSourceSchema>;

/** Env values: names as a shell takes them. */
export const StackEnvSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an env name is letters, digits and '_', not starting with a digit"),
    z.string().max(64 * 1024),
  )
  .refine((e) => Object.keys(e).length <= 500, "at most 500 env values");
export type StackEnv = z.infer<typeof StackEnvSchema>;

/** A change of env: a value sets, null removes, a name left out keeps its value (the editor never sees values). */
export const StackEnvPatchSchema = z.record(
  z.string(),
  z
    .string()
    .max(64 * 1024)
    .nullable(),
);

export interface StackDeployView {
  number: number;
  /** The commit the files came from (git stacks). */
  commit: string | null;
  reason: string;
  rollbackOf: number | null;
  createdByName: string;
  outcome: "running" | "succeeded" | "failed";
  /** What it did: a fleet deploy's or a single-host deploy's result, or a stop's (services removed, or containers stopped). */
  summary: Partial<FleetDeployResult> & Partial<HostDeployResult> & { stopped?: string[] };
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  /** Env names as deployed (values are never shown). */
  envNames: string[];
}

export interface StackView {
  id: string;
  teamId: string;
  name: string;
  target: "fleet" | "host";
  /** The host a single-host stack runs on. */
  hostId: string | null;
  sourceKind: "inline" | "git";
  /** Where a git stack's files come from, and how its last read went. */
  git: StackGitView | null;
  origin: string;
  source: StackSource;
  /** The env's names; values are never sent back. */
  envNames: string[];
  lastDeploy: StackDeployView | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface StackGitView {
  url: string;
  ref: string;
  path: string;
  username: string | null;
  hasPassword: boolean;
  pollSeconds: number;
  commit: string | null;
  polledAt: Date | null;
  error: string | null;
}

/** What reading a git stack's repository did. */
export interface StackSyncResult {
  commit: string;
  /** The stack's files differed from the last commit read (or a deploy was asked for). */
  changed: boolean;
  deploy: StackDeployView | null;
}

/** Changes to a git stack's settings; each field left out stays (the re-read checks them together). */
export const StackGitChangeSchema = z.object({
  ref: z.string().optional(),
  path: z.string().optional(),
  composeFiles: z.array(z.string()).optional(),
  profiles: z.array(z.string()).optional(),
  username: z.string().nullable().optional(),
  /** A new password or token; null forgets the one kept. */
  password: z.string().nullable().optional(),
  pollSeconds: z.number().optional(),
});
export type StackGitChange = z.infer<typeof StackGitChangeSchema>;

/** A single-host stack's way to its host (see HostOps), with removal of networks and volumes. */
export type StackHostOps = HostOps & { removeNetwork(name: string): Promise<void>; removeVolume(name: string): Promise<void> };

/** How a deploy reaches a single-host stack's host: given by the caller, or else made for the system (the git poller). */
export type StackHostOpsFactory = (
  host: { id: string; teamId: string },
  actor: { userId: string | null; name: string },
) => Promise<StackHostOps>;

type StackPlan = { target: "fleet"; plan: ReturnType<typeof planFleet> } | { target: "host"; plan: HostPlan };

type StackRow = Prisma.StackGetPayload<{ include: { deploys: true } }>;
type DeployRow = StackRow["deploys"][number];

/** A deploy still marked running after this long was cut short (its process died): another may start. */
const STALE_DEPLOY_MS = 30 * 60_000;

export class StackStore {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly fleet: FleetStores,
    /** Reaches a single-host stack's host when the deploy's caller gave no way (the git poller's deploys). */
    private readonly hostOps?: StackHostOpsFactory,
  ) {}

  async list(teamIds: readonly string[]): Promise<StackView[]> {
    const rows = await this.db.stack.findMany({
      where: { teamId: { in: [...teamIds] } },
      include: { deploys: { orderBy: { number: "desc" }, take: 1 } },
      orderBy: { name: "asc" },
    });
    return rows.map((r) => this.view(r));
  }

  async get(id: string): Promise<StackView> {
    return this.view(await this.row(id));
  }

  /** Every deploy, newest first. */
  async history(id: string): Promise<StackDeployView[]> {
    await this.row(id);
    const rows = await this.db.stackDeploy.findMany({ where: { stackId: id }, orderBy: { number: "desc" }, take: 200 });
    return rows.map((d) => this.deployView(d));
  }

  /**
   * A new stack, not yet deployed: inline (`source`) or kept in git (`git`: its files are read
   * now, so a bad URL, ref or credential is refused here). Its source must load and plan.
   */
  async create(
    teamId: string,
    input: {
      name: string;
      /** fleet (default): services across hosts; host: containers on `hostId`, as `docker compose up`. */
      target?: "fleet" | "host";
      hostId?: string;
      source?: StackSource;
      git?: z.input<typeof StackGitSourceSchema>;
      env: StackEnv;
      /** Where it came from when adopted: docker-compose (a project found on a host) or docker-stack. */
      origin?: string;
    },
    actorId: string | null,
  ): Promise<StackView> {
    const name = valid(StackNameSchema, input.name, "stack name");
    const target = input.target ?? "fleet";
    if (target === "host") {
      if (!input.hostId) throw invalid("a single-host stack needs its host");
      const host = await this.db.host.findUnique({ where: { id: input.hostId }, select: { teamId: true } });
      if (!host || host.teamId !== teamId) throw notFound(`host ${input.hostId} in this team`);
    } else if (input.hostId) throw invalid("a fleet stack runs across the team's hosts: give no host");
    if ((input.source === undefined) === (input.git === undefined)) throw invalid("give a stack either its source or a git repository");
    let source: StackSource;
    let gitFields: Record<string, unknown> = {};
    if (input.git) {
      const git = valid(StackGitSourceSchema, input.git, "git source");
      const read = await readGitStack(git, input.env);
      source = { files: read.files, composeFiles: git.composeFiles, profiles: git.profiles };
      gitFields = {
        sourceKind: "git",
        gitUrl: git.url,
        gitRef: git.ref,
        gitPath: git.path,
        gitUsername: git.username ?? null,
        gitPasswordSealed: git.password !== undefined ? this.box.seal(git.password) : null,
        pollSeconds: git.pollSeconds,
        webhookSecretSealed: this.box.seal(randomBytes(32).toString("hex")),
        gitCommit: read.commit,
        gitDigest: digestOf(source, read.contexts),
        polledAt: new Date(),
      };
    } else source = input.source!;
    this.check(name, source, input.env, target);
    try {
      const row = await this.db.stack.create({
        data: {
          teamId,
          name,
          files: source.files,
          composeFiles: source.composeFiles,
          profiles: source.profiles,
          envSealed: this.seal(input.env),
          createdById: actorId,
          target,
          hostId: input.hostId ?? null,
          ...(input.origin ? { origin: input.origin } : {}),
          ...gitFields,
        },
        include: { deploys: true },
      });
      return this.view(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a stack named ${name} already exists in this team`);
      throw e;
    }
  }

  /**
   * A new source (inline stacks), new git settings (git stacks: the files are read again) and/or
   * env (patched: see StackEnvPatchSchema); checked as create's. Takes effect at the next deploy.
   */
  async update(
    id: string,
    change: { source?: StackSource; git?: StackGitChange; env?: z.infer<typeof StackEnvPatchSchema> },
  ): Promise<StackView> {
    const row = await this.row(id);
    const env = { ...this.open(row.envSealed) };
    for (const [k, v] of Object.entries(change.env ?? {})) {
      if (v === null) delete env[k];
      else env[k] = v;
    }
    const parsedEnv = valid(StackEnvSchema, env, "env");
    let source = sourceOf(row);
    let gitFields: Record<string, unknown> = {};
    if (row.sourceKind === "git") {
      if (change.source) throw invalid(`stack ${row.name} is kept in git: change its files there, or its git settings here`);
      if (change.git || change.env) {
        // Env values can name files (env_file: ${X}): read again whenever either changes.
        const git = this.gitOf(row, change.git ?? {});
        const read = await readGitStack(git, parsedEnv);
        source = { files: read.files, composeFiles: git.composeFiles, profiles: git.profiles };
        gitFields = {
          gitRef: git.ref,
          gitPath: git.path,
          gitUsername: git.username ?? null,
          gitPasswordSealed: git.password !== undefined ? this.box.seal(git.password) : null,
          pollSeconds: git.pollSeconds,
          gitCommit: read.commit,
          gitDigest: digestOf(source, read.contexts),
          polledAt: new Date(),
          gitError: null,
        };
      }
    } else if (change.git) throw invalid(`stack ${row.name} is not kept in git`);
    else if (change.source) source = change.source;
    this.check(row.name, source, parsedEnv, targetOf(row));
    const updated = await this.db.stack.update({
      where: { id },
      data: {
        files: source.files,
        composeFiles: source.composeFiles,
        profiles: source.profiles,
        envSealed: this.seal(parsedEnv),
        ...gitFields,
      },
      include: { deploys: { orderBy: { number: "desc" }, take: 1 } },
    });
    return this.view(updated);
  }

  /**
   * Deploys the stack's current source (a git stack's read again first): only services whose spec
   * changed are updated. The deploy is recorded before it starts and its outcome after; a failed
   * one names the step.
   */
  async deploy(
    id: string,
    actor: { id: string | null; name: string },
    opts: StackDeployOptions & {
      reason?: string;
      /** A git stack's repository is read first unless false (it was just read). */
      read?: boolean;
    } = {},
  ): Promise<StackDeployView> {
    const row = await this.row(id);
    if (row.sourceKind === "git" && opts.read !== false) return (await this.sync(id, actor, { ...opts, always: true })).deploy!;
    return this.deployCurrent(row, actor, opts);
  }

  /**
   * Reads a git stack's repository at its ref. New stack files are saved and deployed; a commit
   * that changed none of them is noted and deploys nothing, unless `always`. A failed read is
   * kept on the stack (`git.error`) as well as thrown.
   */
  async sync(
    id: string,
    actor: { id: string | null; name: string },
    opts: StackDeployOptions & { always?: boolean; reason?: string } = {},
  ): Promise<StackSyncResult> {
    const row = await this.row(id);
    if (row.sourceKind !== "git") throw invalid(`stack ${row.name} is not kept in git`);
    const env = this.open(row.envSealed);
    const git = this.gitOf(row, {});
    let read: Awaited<ReturnType<typeof readGitStack>>;
    try {
      read = await readGitStack(git, env);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      await this.db.stack.update({ where: { id }, data: { polledAt: new Date(), gitError: message.slice(0, 2000) } });
      throw e;
    }
    const source = { files: read.files, composeFiles: git.composeFiles, profiles: git.profiles };
    const digest = digestOf(source, read.contexts);
    const changed = digest !== row.gitDigest;
    // A stack never deployed, or stopped, is not started by a poll or a push: that is someone's decision.
    const stopped = row.deploys[0]?.reason === "stop";
    const deploying = opts.always || (changed && row.deploys.length > 0 && !stopped);
    const saved = await this.db.stack.update({
      where: { id },
      data: {
        gitCommit: read.commit,
        polledAt: new Date(),
        gitError: null,
        // A rollback put older files in place: they stay until a commit brings new ones.
        ...(changed || opts.always ? { files: source.files } : {}),
        // Noted as read now unless a deploy follows: then once it has run (see below).
        ...(changed && !deploying ? { gitDigest: digest } : {}),
      },
      include: { deploys: { orderBy: { number: "desc" }, take: 1 } },
    });
    if (!deploying) return { commit: read.commit, changed, deploy: null };
    const noteRead = () => this.db.stack.update({ where: { id }, data: { gitDigest: digest } });
    let deploy: StackDeployView;
    try {
      deploy = await this.deployCurrent(saved, actor, { ...opts, reason: opts.reason ?? (opts.always ? "deploy" : "git") });
    } catch (e) {
      // Another deploy was running: the next poll or push tries again. Any other failure is
      // recorded in the history, and not repeated at every poll.
      if (!(isDomainError(e) && e.code === "CONFLICT")) await noteRead();
      throw e;
    }
    await noteRead();
    return { commit: read.commit, changed, deploy };
  }

  /** The webhook secret of a git stack (shown to its operators, who give it to their git host). */
  async webhookSecret(id: string): Promise<{ stackId: string; teamId: string; name: string; ref: string; secret: string }> {
    const row = await this.row(id);
    if (row.sourceKind !== "git" || !row.webhookSecretSealed) throw invalid(`stack ${row.name} is not kept in git: it has no push webhook`);
    return { stackId: row.id, teamId: row.teamId, name: row.name, ref: row.gitRef ?? "", secret: this.box.open(row.webhookSecretSealed) };
  }

  /** The fleet services a stack's deploys made (by their stack label), for its merged logs. */
  async services(id: string): Promise<{ id: string; name: string }[]> {
    const row = await this.row(id);
    if (targetOf(row) !== "fleet") return [];
    return this.db.$queryRaw<{ id: string; name: string }[]>`
      select s.id, s.name from service s
      join service_version v on v."serviceId" = s.id and v.version = s.version
      where s."teamId" = ${row.teamId} and v.spec->'labels'->>${STACK_LABEL} = ${row.name}
      order by s.name`;
  }

  /** Every stack's team, name, target and host: what a listing of projects deployed elsewhere leaves out. */
  async known(teamIds: readonly string[]): Promise<{ teamId: string; name: string; target: string; hostId: string | null }[]> {
    return this.db.stack.findMany({
      where: { teamId: { in: [...teamIds] } },
      select: { teamId: true, name: true, target: true, hostId: true },
    });
  }

  /** Stack namespaces of fleet services (`docker stack deploy`'s label) with their services, by team. */
  async fleetNamespaces(teamIds: readonly string[]): Promise<{ teamId: string; name: string; services: string[] }[]> {
    if (teamIds.length === 0) return [];
    return this.db.$queryRaw<{ teamId: string; name: string; services: string[] }[]>`
      select s."teamId" as "teamId", v.spec->'labels'->>${STACK_LABEL} as name, array_agg(s.name order by s.name) as services
      from service s join service_version v on v."serviceId" = s.id and v.version = s.version
      where s."teamId" = any(${[...teamIds]}::text[]) and v.spec->'labels' ? ${STACK_LABEL}
      group by 1, 2 order by 2`;
  }

  /** Git stacks whose next poll is due (oldest first). */
  async dueForPoll(now = new Date(), limit = 50): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      select id from stack
      where "sourceKind" = 'git' and "pollSeconds" > 0
        and ("polledAt" is null or "polledAt" + make_interval(secs => "pollSeconds") <= ${now})
      order by "polledAt" asc nulls first limit ${limit}`;
    return rows.map((r) => r.id);
  }

  /** Deploys what the stack holds now, as it is. */
  private async deployCurrent(
    row: StackRow,
    actor: { id: string | null; name: string },
    opts: StackDeployOptions & { reason?: string; rollbackOf?: number; commit?: string | null },
  ): Promise<StackDeployView> {
    const source = sourceOf(row);
    const env = this.open(row.envSealed);
    const planned = this.check(row.name, source, env, targetOf(row)).planned;
    // Reached before the deploy is recorded: a host that cannot be reached records nothing.
    const host = planned.target === "host" ? await this.opsFor(row, opts.host, actor) : null;
    const commit = opts.commit !== undefined ? opts.commit : row.gitCommit;
    // A deploy with no caller's check (the git poller's) holds the specs to the team's policy, as an operator's would be.
    const checkSpec = opts.checkSpec ?? specPolicyCheck(await getContainerPolicy(this.db, row.teamId));
    const record = await this.begin(row, actor, opts.reason ?? "deploy", opts.rollbackOf ?? null, commit);
    try {
      const result =
        planned.target === "host"
          ? await this.deployOnHost(host!, planned.plan, row, source, commit)
          : await deployFleetStack(this.fleet, row.teamId, row.name, planned.plan, { files: source.files, env }, actor.id, {
              ...opts,
              checkSpec,
            });
      return this.finish(record.id, { outcome: "succeeded", summary: result });
    } catch (e) {
      const done = e instanceof StackDeployError || e instanceof HostDeployError ? e.done : {};
      const message = e instanceof Error ? e.message : String(e);
      await this.finish(record.id, { outcome: "failed", summary: done, error: message.slice(0, 4000) });
      throw e;
    }
  }

  private async deployOnHost(host: StackHostOps, plan: HostPlan, row: StackRow, source: StackSource, commit: string | null) {
    if (!plan.services.some((s) => s.build)) return deployHostStack(host, plan);
    const contexts = this.contextsOf(row, source, commit);
    try {
      return await deployHostStack(host, plan, { contexts });
    } finally {
      await contexts.close();
    }
  }

  /**
   * Stops the stack, recorded as a deploy ("stop"): a fleet stack's services are removed (and its
   * networks once unused; secrets and configs stay), a single-host stack's containers stopped
   * (kept), as Portainer's and compose's stop do. The next deploy starts it again; until then a
   * poll or a push does not.
   */
  async stop(id: string, actor: { id: string | null; name: string }, opts: { host?: StackHostOps } = {}): Promise<StackDeployView> {
    const row = await this.row(id);
    const host = targetOf(row) === "host" ? await this.opsFor(row, opts.host, actor) : null;
    const record = await this.begin(row, actor, "stop", null, row.gitCommit);
    try {
      const summary = host
        ? { stopped: await stopHostStack(host, row.name) }
        : { removed: await stopFleetStack(this.fleet, row.teamId, row.name) };
      return this.finish(record.id, { outcome: "succeeded", summary });
    } catch (e) {
      await this.finish(record.id, { outcome: "failed", summary: {}, error: (e instanceof Error ? e.message : String(e)).slice(0, 4000) });
      throw e;
    }
  }

  /** Makes an earlier deploy's source and env the stack's again, and deploys them. */
  async rollback(
    id: string,
    number: number,
    actor: { id: string | null; name: string },
    opts: StackDeployOptions = {},
  ): Promise<StackDeployView> {
    const row = await this.row(id);
    const earlier = await this.db.stackDeploy.findUnique({ where: { stackId_number: { stackId: id, number } } });
    if (!earlier) throw notFound(`deploy #${number} of stack ${row.name}`);
    await this.db.stack.update({
      where: { id },
      data: {
        files: earlier.files as Prisma.InputJsonValue,
        composeFiles: earlier.composeFiles,
        profiles: earlier.profiles,
        envSealed: earlier.envSealed,
      },
    });
    return this.deployCurrent(await this.row(id), actor, { ...opts, reason: "rollback", rollbackOf: number, commit: earlier.commit });
  }

  /**
   * Removes the stack's services, networks, secrets and configs (as `docker stack rm`), or a
   * single-host stack's containers and networks, and its volumes when asked (as
   * `docker compose down [-v]`); then the stack.
   */
  async remove(id: string, opts: { volumes?: boolean; host?: StackHostOps } = {}): Promise<{ removed: string[] }> {
    const row = await this.row(id);
    let removed: string[];
    if (targetOf(row) === "host") {
      const { planned } = this.check(row.name, sourceOf(row), this.open(row.envSealed), "host");
      if (planned.target !== "host") throw new Error("unreachable");
      // A host removed from the fleet took its containers with it: only the record is left to go.
      const hostKnown = row.hostId !== null && (await this.db.host.count({ where: { id: row.hostId } })) > 0;
      removed = hostKnown ? await removeHostStack(await this.opsFor(row, opts.host), planned.plan, { volumes: opts.volumes ?? false }) : [];
    } else removed = await removeFleetStack(this.fleet, row.teamId, row.name);
    await this.db.stack.delete({ where: { id } });
    return { removed };
  }

  // ---- internals ----

  private async row(id: string): Promise<StackRow> {
    const row = await this.db.stack.findUnique({ where: { id }, include: { deploys: { orderBy: { number: "desc" }, take: 1 } } });
    if (!row) throw notFound(`stack ${id}`);
    return row;
  }

  private async opsFor(
    row: StackRow,
    given: StackHostOps | undefined,
    actor: { id: string | null; name: string } = { id: null, name: "berth" },
  ): Promise<StackHostOps> {
    if (given) return given;
    if (!row.hostId) throw invalid(`stack ${row.name} has no host`);
    if (!this.hostOps) throw invalid(`stack ${row.name} runs on a host this process cannot reach`);
    return this.hostOps({ id: row.hostId, teamId: row.teamId }, { userId: actor.id, name: actor.name });
  }

  /** Where a deploy reads its `build:` contexts: the stack's files, or its repository at the deploy's commit. */
  private contextsOf(row: StackRow, source: StackSource, commit: string | null): StackContexts {
    if (row.sourceKind !== "git") return inlineContexts(source.files);
    if (!commit || !row.gitUrl) throw invalid(`stack ${row.name} has not been read from git yet`);
    const git = this.gitOf(row, {});
    return gitContexts({ url: git.url, ref: git.ref, commit, path: git.path, username: git.username, password: git.password });
  }

  /** Loads and plans a source for its target: every problem of the files and the plan, or the plan. */
  private check(
    name: string,
    source: StackSource,
    env: StackEnv,
    target: "fleet" | "host" = "fleet",
  ): { project: ComposeProject; planned: StackPlan } {
    const parsed = valid(StackSourceSchema, source, "source");
    const dotEnv = parsed.files[".env"];
    const project = loadCompose(
      parsed.composeFiles.map((f) => ({ name: f, text: parsed.files[f]! })),
      { env, files: parsed.files, profiles: parsed.profiles, ...(dotEnv !== undefined ? { dotEnv } : {}) },
    );
    if (target === "host") {
      try {
        return { project, planned: { target: "host", plan: planHost(name, project.model) } };
      } catch (e) {
        if (e instanceof HostPlanError) throw invalid(`stack ${name} cannot run on one host: ${e.problems.join("; ")}`);
        throw e;
      }
    }
    let plan: ReturnType<typeof planFleet>;
    try {
      plan = planFleet(name, project.model);
    } catch (e) {
      if (e instanceof FleetPlanError) throw invalid(`stack ${name} cannot run on the fleet: ${e.problems.join("; ")}`);
      throw e;
    }
    // The source is shown to everyone who can read the stack; env values never are.
    const inSource = plan.secrets.filter((f) => f.file !== undefined).map((f) => f.name);
    if (inSource.length)
      throw invalid(
        `stack ${name}: secret ${inSource.join(", ")} would be kept in the stack's source, which every reader of the stack sees: ` +
          "take it from an env value instead (secrets: {name: {environment: VAR}}), which is stored sealed",
      );
    return { project, planned: { target: "fleet", plan } };
  }

  /** Records a running deploy; one at a time per stack (the row lock orders two that race). */
  private begin(
    row: StackRow,
    actor: { id: string | null; name: string },
    reason: string,
    rollbackOf: number | null,
    commit: string | null,
  ) {
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`select 1 from stack where id = ${row.id} for update`;
      const last = await tx.stackDeploy.findFirst({ where: { stackId: row.id }, orderBy: { number: "desc" } });
      if (last?.outcome === "running" && Date.now() - last.startedAt.getTime() < STALE_DEPLOY_MS)
        throw conflict(`stack ${row.name} is being deployed (deploy #${last.number}); wait for it to end`);
      return tx.stackDeploy.create({
        data: {
          stackId: row.id,
          number: (last?.number ?? 0) + 1,
          files: row.files as Prisma.InputJsonValue,
          composeFiles: row.composeFiles,
          profiles: row.profiles,
          envSealed: row.envSealed,
          reason,
          rollbackOf,
          commit,
          createdById: actor.id,
          createdByName: actor.name,
        },
      });
    });
  }

  private async finish(
    deployId: number,
    end: { outcome: "succeeded" | "failed"; summary: StackDeployView["summary"]; error?: string },
  ): Promise<StackDeployView> {
    const d = await this.db.stackDeploy.update({
      where: { id: deployId },
      data: { outcome: end.outcome, summary: end.summary as Prisma.InputJsonValue, error: end.error ?? null, finishedAt: new Date() },
    });
    return this.deployView(d);
  }

  /** A git stack's settings with `change` applied, checked. */
  private gitOf(row: StackRow, change: StackGitChange): StackGitSource {
    const keep = <T>(v: T | undefined, old: T) => (v === undefined ? old : v);
    const password =
      change.password === undefined ? (row.gitPasswordSealed ? this.box.open(row.gitPasswordSealed) : null) : change.password;
    const username = keep(change.username, row.gitUsername);
    return valid(
      StackGitSourceSchema,
      {
        url: row.gitUrl,
        ref: keep(change.ref, row.gitRef ?? undefined),
        path: keep(change.path, row.gitPath),
        composeFiles: keep(change.composeFiles, row.composeFiles),
        profiles: keep(change.profiles, row.profiles),
        ...(username !== null ? { username } : {}),
        ...(password !== null ? { password } : {}),
        pollSeconds: keep(change.pollSeconds, row.pollSeconds),
      },
      "git source",
    );
  }

  private seal(env: StackEnv): string {
    return this.box.seal(JSON.stringify(env));
  }

  private open(sealed: string): StackEnv {
    return StackEnvSchema.parse(JSON.parse(this.box.open(sealed)));
  }

  private view(row: StackRow): StackView {
    const last = row.deploys[0];
    return {
      id: row.id,
      teamId: row.teamId,
      name: row.name,
      target: targetOf(row),
      hostId: row.hostId,
      sourceKind: row.sourceKind === "git" ? "git" : "inline",
      git:
        row.sourceKind === "git"
          ? {
              url: row.gitUrl ?? "",
              ref: row.gitRef ?? "",
              path: row.gitPath,
              username: row.gitUsername,
              hasPassword: row.gitPasswordSealed !== null,
              pollSeconds: row.pollSeconds,
              commit: row.gitCommit,
              polledAt: row.polledAt,
              error: row.gitError,
            }
          : null,
      origin: row.origin,
      source: sourceOf(row),
      envNames: Object.keys(this.open(row.envSealed)).sort(),
      lastDeploy: last ? this.deployView(last) : null,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  private deployView(d: DeployRow): StackDeployView {
    let envNames: string[] = [];
    try {
      envNames = Object.keys(this.open(d.envSealed)).sort();
    } catch {
      // Sealed under a key since rotated: the names are unknown, the record stays readable.
    }
    return {
      number: d.number,
      commit: d.commit,
      reason: d.reason,
      rollbackOf: d.rollbackOf,
      createdByName: d.createdByName,
      outcome: d.outcome as StackDeployView["outcome"],
      summary: d.summary as StackDeployView["summary"],
      error: d.error,
      startedAt: d.startedAt,
      finishedAt: d.finishedAt,
      envNames,
    };
  }
}

/** Parsed, or a domain error naming each problem (a zod error would reach the edge as a crash). */
function valid<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(`invalid ${what}: ${r.error.issues.map((i) => `${i.path.join(".") || what}: ${i.message}`).join("; ")}`);
  return r.data;
}

const targetOf = (row: Pick<StackRow, "target">): "fleet" | "host" => (row.target === "host" ? "host" : "fleet");

/** A deploy's options: the fleet's (a policy check of specs), and the way to a single-host stack's host. */
export type StackDeployOptions = FleetDeployOptions & { host?: StackHostOps };

function sourceOf(row: Pick<StackRow, "files" | "composeFiles" | "profiles">): StackSource {
  return { files: row.files as Record<string, string>, composeFiles: row.composeFiles, profiles: row.profiles };
}

/** The stack's files as a deploy reads them: a new commit with the same digest changes nothing. */
function digestOf(source: StackSource, contexts: Record<string, string> = {}): string {
  const files = Object.keys(source.files)
    .sort()
    .map((k) => [k, source.files[k]]);
  // Build contexts' tree ids count too (a push to a service's code rebuilds it); left out when there are none, so older digests stay equal.
  const built = Object.keys(contexts)
    .sort()
    .map((k) => [k, contexts[k]]);
  return createHash("sha256")
    .update(
      JSON.stringify(built.length ? [files, source.composeFiles, source.profiles, built] : [files, source.composeFiles, source.profiles]),
    )
    .digest("hex");
}
