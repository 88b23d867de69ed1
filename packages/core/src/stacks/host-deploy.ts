import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { BuildOrigin } from "../builds/runner.ts";
import { DomainError } from "../errors.ts";
import { BUILD_CONTEXT_LABEL, buildKey, type StackContexts } from "./build-contexts.ts";
import {
  COMPOSE_HASH,
  COMPOSE_NUMBER,
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  containerName,
  type HostPlan,
  type HostServicePlan,
} from "./host-plan.ts";

/*
 * Runs a single-host stack's plan on its host, as `docker compose up -d` does: the project's
 * networks and volumes made when missing, `build:` images built when their context changed
 * (build-contexts.ts), other images pulled when absent, then each service in
 * dependency order, after its dependencies meet their conditions (started, healthy, completed
 * successfully). A service whose containers carry its current config hash is left running as it
 * is; one whose hash changed is recreated; containers of services no longer in the file go.
 * The host is reached through `HostOps` (the API's checked and audited calls).
 */

export interface HostContainer {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

export interface HostContainerState {
  status: string;
  running: boolean;
  exitCode: number;
  /** healthy, unhealthy, starting; null without a healthcheck. */
  health: string | null;
}

/** What the executor asks of the host. */
export interface HostOps {
  /** Every container of the project, running or not. */
  containers(project: string): Promise<HostContainer[]>;
  state(id: string): Promise<HostContainerState>;
  /** Creates a container from Docker's create body. */
  create(name: string, body: Record<string, unknown>): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  connect(network: string, container: string, aliases: string[]): Promise<void>;
  networkNames(): Promise<string[]>;
  createNetwork(n: HostPlan["networks"][number]): Promise<void>;
  volumeNames(): Promise<string[]>;
  createVolume(v: HostPlan["volumes"][number]): Promise<void>;
  hasImage(reference: string): Promise<boolean>;
  /** An image's labels; null when the host does not have it. */
  imageLabels(reference: string): Promise<Record<string, string> | null>;
  pull(reference: string): Promise<void>;
  /** Builds an image on the host from a context (recorded as a build); resolves once it is built. */
  build(build: HostBuild, context: { tar: Readable; origin: BuildOrigin }): Promise<void>;
}

/** One service's image build: its tag, how, and the labels it gets (its context travels beside it). */
export type HostBuild = Omit<NonNullable<HostServicePlan["build"]>, "context"> & { service: string };

export interface HostDeployResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  networksCreated: string[];
  volumesCreated: string[];
  pulled: string[];
  /** Services whose image was built from a changed (or first seen) context. */
  built: string[];
}

/** `docker compose stop`: the project's running containers stopped, kept for the next deploy to start. */
export async function stopHostStack(ops: HostOps, project: string): Promise<string[]> {
  const stopped: string[] = [];
  for (const c of await ops.containers(project)) {
    if (c.state !== "running" && c.state !== "restarting" && c.state !== "paused") continue;
    await ops.stop(c.id);
    stopped.push(c.labels[COMPOSE_SERVICE] ?? c.name);
  }
  return [...new Set(stopped)].sort();
}

export class HostDeployError extends DomainError {
  constructor(
    readonly step: string,
    readonly done: HostDeployResult,
    cause: unknown,
  ) {
    super("INVALID", `${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "HostDeployError";
  }
}

export interface HostDeployOptions {
  /** Longest a dependency may take to meet its condition. */
  conditionTimeoutMs?: number;
  /** Where `build:` services' contexts are read (the stack's files, or its repository at the deploy's commit). */
  contexts?: StackContexts;
  pollMs?: number;
}

export async function deployHostStack(ops: HostOps, plan: HostPlan, opts: HostDeployOptions = {}): Promise<HostDeployResult> {
  const done: HostDeployResult = {
    created: [],
    updated: [],
    unchanged: [],
    removed: [],
    networksCreated: [],
    volumesCreated: [],
    pulled: [],
    built: [],
  };
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw e instanceof HostDeployError ? e : new HostDeployError(what, done, e);
    }
  };
  const networks = new Set(await step("list networks", () => ops.networkNames()));
  for (const n of plan.networks) {
    if (networks.has(n.name)) continue;
    if (n.external) throw new HostDeployError(`network ${n.name}`, done, new Error("it is external and does not exist on the host"));
    await step(`create network ${n.name}`, () => ops.createNetwork(n));
    done.networksCreated.push(n.name);
  }
  const volumes = new Set(await step("list volumes", () => ops.volumeNames()));
  for (const v of plan.volumes) {
    if (volumes.has(v.name)) continue;
    if (v.external) throw new HostDeployError(`volume ${v.name}`, done, new Error("it is external and does not exist on the host"));
    await step(`create volume ${v.name}`, () => ops.createVolume(v));
    done.volumesCreated.push(v.name);
  }
  // A service built here gets its image from its context: built again when the context (or how it
  // is built) changed, and its containers then carry the build's key in their config hash.
  const services: HostServicePlan[] = [];
  for (const svc of plan.services) services.push(svc.build ? await step(`build ${svc.service}`, () => built(ops, svc, opts, done)) : svc);
  for (const svc of services) {
    if (svc.build) continue;
    const image = String(svc.body.Image);
    if (done.pulled.includes(image) || (await step(`look for image ${image}`, () => ops.hasImage(image)))) continue;
    await step(`pull ${image}`, () => ops.pull(image));
    done.pulled.push(image);
  }

  const existing = await step("list containers", () => ops.containers(plan.project));
  const byService = new Map<string, HostContainer[]>();
  for (const c of existing) {
    const s = c.labels[COMPOSE_SERVICE] ?? "";
    byService.set(s, [...(byService.get(s) ?? []), c]);
  }
  // Containers of services the file no longer has go first, as `--remove-orphans` does.
  const planned = new Set(services.map((s) => s.service));
  for (const [service, containers] of byService) {
    if (planned.has(service)) continue;
    for (const c of containers) {
      await step(`remove ${c.name}`, () => ops.remove(c.id));
      done.removed.push(c.name);
    }
  }

  for (const svc of services) {
    for (const dep of svc.dependsOn) {
      if (!planned.has(dep.service)) {
        if (dep.required)
          throw new HostDeployError(`start ${svc.service}`, done, new Error(`it depends on ${dep.service}, which is not in the stack`));
        continue;
      }
      // Nothing runs to meet the condition: say so now rather than wait out the timeout.
      if (services.find((x) => x.service === dep.service)?.replicas === 0) {
        if (dep.required)
          throw new HostDeployError(`start ${svc.service}`, done, new Error(`it depends on ${dep.service}, which has 0 replicas`));
        continue;
      }
      await step(`wait for ${dep.service} (${dep.condition}) before ${svc.service}`, () =>
        meets(ops, plan.project, dep.service, dep.condition, opts),
      );
    }
    await step(`start ${svc.service}`, () => converge(ops, plan.project, svc, byService.get(svc.service) ?? [], done));
  }
  return done;
}

/**
 * Makes sure the image of a `build:` service is built from its current context; returns the
 * service with its build's key folded into its config hash, so a rebuilt image recreates its
 * containers and an unchanged one keeps them.
 */
async function built(ops: HostOps, svc: HostServicePlan, opts: HostDeployOptions, done: HostDeployResult): Promise<HostServicePlan> {
  const b = svc.build!;
  if (!opts.contexts) throw new Error("this deploy has no way to read build contexts");
  const key = buildKey(await opts.contexts.id(b.context), b);
  const labels = await ops.imageLabels(b.tag);
  if (labels?.[BUILD_CONTEXT_LABEL] !== key) {
    const ctx = await opts.contexts.open(b.context);
    try {
      await ops.build(
        {
          service: svc.service,
          tag: b.tag,
          ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
          args: b.args,
          ...(b.target ? { target: b.target } : {}),
          labels: { ...b.labels, [BUILD_CONTEXT_LABEL]: key },
          noCache: b.noCache,
          pull: b.pull,
        },
        ctx,
      );
    } finally {
      await ctx.cleanup();
    }
    done.built.push(svc.service);
  }
  const configHash = createHash("sha256").update(`${svc.configHash}\0${key}`).digest("hex");
  return {
    ...svc,
    configHash,
    body: { ...svc.body, Labels: { ...(svc.body.Labels as Record<string, string>), [COMPOSE_HASH]: configHash } },
  };
}

/** The service's containers 1..replicas with its current hash, running. */
async function converge(
  ops: HostOps,
  project: string,
  svc: HostServicePlan,
  current: HostContainer[],
  done: HostDeployResult,
): Promise<void> {
  const keep = new Map<number, HostContainer>();
  let changed = false;
  for (const c of current) {
    const n = Number(c.labels[COMPOSE_NUMBER] ?? 0);
    if (c.labels[COMPOSE_HASH] === svc.configHash && n >= 1 && n <= svc.replicas && !keep.has(n)) keep.set(n, c);
    else {
      await ops.remove(c.id);
      changed = true;
    }
  }
  let made = false;
  for (let n = 1; n <= svc.replicas; n++) {
    const have = keep.get(n);
    if (have) {
      if (have.state !== "running") await ops.start(have.id);
      continue;
    }
    const name = containerName(project, svc.service, n);
    const body = { ...svc.body, Labels: { ...(svc.body.Labels as Record<string, string>), [COMPOSE_NUMBER]: String(n) } };
    const id = await ops.create(name, body);
    for (const extra of svc.moreNetworks) await ops.connect(extra.network, id, extra.aliases);
    await ops.start(id);
    made = true;
  }
  if (current.length === 0 && made) done.created.push(svc.service);
  else if (made || changed) done.updated.push(svc.service);
  else done.unchanged.push(svc.service);
}

/** Waits until every container of `service` meets `condition`; a dependency that cannot (unhealthy, failed) fails at once. */
async function meets(
  ops: HostOps,
  project: string,
  service: string,
  condition: HostServicePlan["dependsOn"][number]["condition"],
  opts: HostDeployOptions,
): Promise<void> {
  const deadline = Date.now() + (opts.conditionTimeoutMs ?? 5 * 60_000);
  for (;;) {
    const containers = (await ops.containers(project)).filter((c) => c.labels[COMPOSE_SERVICE] === service);
    const states = await Promise.all(containers.map((c) => ops.state(c.id)));
    if (states.length) {
      if (condition === "service_started" && states.every((s) => s.running || s.status === "exited")) return;
      if (condition === "service_healthy") {
        if (states.some((s) => s.health === null)) throw new Error(`${service} has no healthcheck, so it is never healthy`);
        if (states.some((s) => s.health === "unhealthy")) throw new Error(`${service} is unhealthy`);
        if (states.every((s) => s.health === "healthy")) return;
      }
      if (condition === "service_completed_successfully") {
        const failed = states.find((s) => s.status === "exited" && s.exitCode !== 0);
        if (failed) throw new Error(`${service} exited with code ${failed.exitCode}`);
        if (states.every((s) => s.status === "exited")) return;
      }
    }
    if (Date.now() > deadline)
      throw new Error(`${service} did not become ${condition.replace("service_", "").replaceAll("_", " ")} in time`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}

/** `docker compose down`: the project's containers and networks; its volumes too when asked. */
export async function removeHostStack(
  ops: HostOps & { removeNetwork(name: string): Promise<void>; removeVolume(name: string): Promise<void> },
  plan: Pick<HostPlan, "project" | "networks" | "volumes">,
  opts: { volumes: boolean },
): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await ops.containers(plan.project)) {
    await ops.remove(c.id);
    removed.push(c.name);
  }
  const networks = new Set(await ops.networkNames());
  for (const n of plan.networks)
    if (!n.external && networks.has(n.name)) {
      await ops.removeNetwork(n.name);
      removed.push(n.name);
    }
  if (opts.volumes) {
    const volumes = new Set(await ops.volumeNames());
    for (const v of plan.volumes)
      if (!v.external && volumes.has(v.name)) {
        await ops.removeVolume(v.name);
        removed.push(v.name);
      }
  }
  return removed;
}
