import { DomainError, invalid } from "../errors.ts";
import type { OverlayNetworkView, OverlayStore } from "../overlay/overlay-store.ts";
import type { ServiceFileStore } from "../service-files/store.ts";
import type { ServiceFileKind } from "../service-files/schema.ts";
import { type ServiceStore, type ServiceView, specHash } from "../services/service-store.ts";
import { type ServiceSpec, ServiceSpecSchema, describeSpecIssues } from "../services/spec.ts";
import { type FleetFile, type FleetPlan, STACK_LABEL } from "./fleet-plan.ts";

/*
 * Deploys a fleet plan, touching only what changed:
 * - every spec is checked, and every secret, config and external network found, before anything
 *   changes: a bad stack changes nothing;
 * - a service whose spec is unchanged is left alone (the store makes no version for it, so no
 *   task restarts); a changed one is updated and rolls out by its own update config;
 * - services and networks of the stack that the plan no longer has are removed; volumes stay.
 * Secrets and configs follow Swarm: made once, never changed (a new content needs a new name).
 */

const NETWORK_DRAIN_MS = 10_000;

export interface FleetStores {
  services: ServiceStore;
  networks: OverlayStore;
  files: ServiceFileStore;
}

export interface FleetDeployResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  networksCreated: string[];
  networksRemoved: string[];
  /** Networks the stack no longer names that tasks still use (a service moving off them): pruned by a later deploy. */
  networksInUse: string[];
  filesCreated: string[];
}

/** A deploy that failed after changing something: what failed, and what had been done by then. */
export class StackDeployError extends DomainError {
  constructor(
    readonly step: string,
    readonly done: FleetDeployResult,
    cause: unknown,
  ) {
    super("INVALID", `${step} failed: ${(cause as Error).message}`);
    this.name = "StackDeployError";
  }
}

export interface FleetSources {
  /** The stack's files (for `file:` secrets and configs), by path as written. */
  files: Record<string, string>;
  /** The stack's env values (for `environment:` secrets and configs). */
  env: Record<string, string>;
}

export interface FleetDeployOptions {
  /** The edge's check of each service (the team's container policy for the caller): a refusal changes nothing. */
  checkSpec?: (spec: ServiceSpec) => Promise<void>;
}

export async function deployFleetStack(
  stores: FleetStores,
  teamId: string,
  stack: string,
  plan: FleetPlan,
  sources: FleetSources,
  actorId: string | null,
  opts: FleetDeployOptions = {},
): Promise<FleetDeployResult> {
  const done: FleetDeployResult = {
    created: [],
    updated: [],
    unchanged: [],
    removed: [],
    networksCreated: [],
    networksRemoved: [],
    networksInUse: [],
    filesCreated: [],
  };

  // ---- checks: nothing changes until all pass ----
  const problems: string[] = [];
  const specs: ServiceSpec[] = [];
  for (const s of plan.services) {
    const r = ServiceSpecSchema.safeParse(s);
    if (!r.success) problems.push(`service ${s.name}: ${describeSpecIssues(r.error)}`);
    else specs.push(r.data);
  }
  if (opts.checkSpec)
    for (const spec of specs)
      await opts.checkSpec(spec).catch((e: unknown) => {
        if (!(e instanceof DomainError)) throw e;
        problems.push(`service ${spec.name}: ${e.message}`);
      });
  const [services, networks, secrets, configs] = await Promise.all([
    stores.services.list([teamId]),
    stores.networks.list([teamId]),
    stores.files.list([teamId], "secret"),
    stores.files.list([teamId], "config"),
  ]);
  const existingFiles = { secret: secrets, config: configs };
  const toMake: { kind: ServiceFileKind; file: FleetFile; data: Buffer }[] = [];
  for (const [kind, planned] of [
    ["secret", plan.secrets],
    ["config", plan.configs],
  ] as const) {
    for (const f of planned) {
      const existing = existingFiles[kind].find((e) => e.name === f.name);
      if (f.external) {
        if (!existing) problems.push(`external ${kind} ${f.name} not found`);
        continue;
      }
      const text = f.file !== undefined ? sources.files[f.file.replace(/^\.\//, "")] : sources.env[f.environment!];
      if (text === undefined) {
        problems.push(
          f.file !== undefined
            ? `${kind} ${f.name}: file ${f.file} not found in the stack's source`
            : `${kind} ${f.name}: env ${f.environment} is not set`,
        );
        continue;
      }
      const data = Buffer.from(text);
      if (!existing) toMake.push({ kind, file: f, data });
      else if (!(await stores.files.holds(existing.id, kind, data)))
        problems.push(`${kind} ${f.name} changed: ${kind}s cannot change once made (as in Swarm); give the new content a new name`);
    }
  }
  for (const n of plan.networks)
    if (n.external && !networks.some((e) => e.name === n.name)) problems.push(`external network ${n.name} not found`);
  const ours = (labels: Record<string, string>) => labels[STACK_LABEL] === stack;
  for (const s of plan.services) {
    const clash = services.find((e) => e.spec.name === s.name && !ours(e.spec.labels));
    if (clash) problems.push(`service ${s.name} exists and is not part of stack ${stack}`);
  }
  if (problems.length) throw invalid(`stack ${stack} not deployed: ${problems.join("; ")}`);

  // ---- changes, in dependency order ----
  let step = "";
  try {
    for (const { kind, file, data } of toMake) {
      step = `creating ${kind} ${file.name}`;
      await stores.files.create(teamId, kind, { name: file.name, labels: file.labels, data }, actorId);
      done.filesCreated.push(file.name);
    }
    for (const n of plan.networks) {
      if (n.external || networks.some((e) => e.name === n.name)) continue;
      step = `creating network ${n.name}`;
      await stores.networks.create(
        teamId,
        { name: n.name, attachable: n.attachable, internal: n.internal, encrypted: n.encrypted, labels: n.labels },
        actorId,
      );
      done.networksCreated.push(n.name);
    }
    for (const s of specs) {
      const existing = services.find((e) => e.spec.name === s.name);
      // The same spec as runs: nothing to write (a redeploy of an unchanged stack reads, and only reads).
      if (existing && specHash(existing.spec) === specHash(s)) {
        done.unchanged.push(s.name);
        continue;
      }
      // Ports published in ingress mode need the team's routing mesh, made on first use.
      step = `publishing the ports of service ${s.name}`;
      await stores.networks.ensureIngress(teamId, existing?.id ?? null, s);
      if (!existing) {
        step = `creating service ${s.name}`;
        await stores.services.create(teamId, s, actorId);
        done.created.push(s.name);
        continue;
      }
      step = `updating service ${s.name}`;
      const after = await stores.services.update(existing.id, existing.version, s, actorId);
      (after.version === existing.version ? done.unchanged : done.updated).push(s.name);
    }
    await prune(
      stores,
      stack,
      { services, networks },
      { services: new Set(plan.services.map((s) => s.name)), networks: new Set(plan.networks.map((n) => n.name)) },
      done,
      (what) => {
        step = what;
      },
    );
  } catch (e) {
    throw new StackDeployError(step, done, e);
  }
  return done;
}

/** Every service of the stack removed, and its networks once unused. */
async function pruneAll(stores: FleetStores, teamId: string, stack: string): Promise<Pruned> {
  const [services, networks] = await Promise.all([stores.services.list([teamId]), stores.networks.list([teamId])]);
  const done: Pruned = { removed: [], networksRemoved: [], networksInUse: [] };
  await prune(stores, stack, { services, networks }, { services: new Set(), networks: new Set() }, done, () => undefined);
  return done;
}

/** Stops a stack: its services go, and its networks once unused; secrets and configs stay for the next deploy. */
export async function stopFleetStack(stores: FleetStores, teamId: string, stack: string): Promise<string[]> {
  return (await pruneAll(stores, teamId, stack)).removed;
}

/**
 * `docker stack rm`: the stack's services first, then its networks (their tasks given a while to
 * leave), secrets and configs. Objects another stack or no stack owns are never touched. Gives
 * the names removed; a network still in use (a task that has not left yet) stays and is not named.
 */
export async function removeFleetStack(stores: FleetStores, teamId: string, stack: string): Promise<string[]> {
  const done = await pruneAll(stores, teamId, stack);
  const removed = [...done.removed, ...done.networksRemoved];
  for (const kind of ["secret", "config"] as const)
    for (const f of await stores.files.list([teamId], kind)) {
      if (f.labels[STACK_LABEL] !== stack) continue;
      await stores.files.remove(f.id, kind);
      removed.push(f.name);
    }
  return removed;
}

type Pruned = Pick<FleetDeployResult, "removed" | "networksRemoved" | "networksInUse">;

/**
 * Removes the stack's services, then its networks, that `keep` does not name. A network's tasks
 * are given a while to leave, as Swarm's `stack rm` gives them; one still in use stays and is
 * reported. `step` is told what is under way, for the caller's error.
 */
async function prune(
  stores: FleetStores,
  stack: string,
  existing: { services: ServiceView[]; networks: OverlayNetworkView[] },
  keep: { services: ReadonlySet<string>; networks: ReadonlySet<string> },
  done: Pruned,
  step: (what: string) => void,
): Promise<void> {
  const ours = (labels: Record<string, string>) => labels[STACK_LABEL] === stack;
  for (const s of existing.services) {
    if (!ours(s.spec.labels) || keep.services.has(s.spec.name)) continue;
    step(`removing service ${s.spec.name}`);
    await stores.services.remove(s.id);
    done.removed.push(s.spec.name);
  }
  for (const n of existing.networks) {
    if (!ours(n.labels) || keep.networks.has(n.name)) continue;
    step(`removing network ${n.name}`);
    try {
      await stores.networks.remove(n.id, { drainMs: NETWORK_DRAIN_MS });
      done.networksRemoved.push(n.name);
    } catch (e) {
      if (!(e instanceof DomainError && e.code === "CONFLICT")) throw e;
      done.networksInUse.push(n.name);
    }
  }
}
