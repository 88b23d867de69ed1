import { createHash } from "node:crypto";
import { posix } from "node:path";
import { contextDir } from "./build-contexts.ts";
import type { ComposeFile, ComposeService } from "./compose/schema.ts";
import { bytes, commandWords, dict, healthcheckOf, ms, objectName, shortPorts } from "./compose/values.ts";

/*
 * A compose model as a single-host stack, with `docker compose up`'s names and labels (so the
 * docker CLI, docker-compose and the dashboard all see one project): containers
 * `<project>-<service>-<n>`, networks and volumes `<project>_<name>`, the compose labels on all,
 * and each service's `com.docker.compose.config-hash`, by which a redeploy recreates only the
 * containers whose configuration changed. Services start in `depends_on` order; each waits on
 * its dependencies' conditions (started, healthy, completed successfully).
 */

export const COMPOSE_PROJECT = "com.docker.compose.project";
export const COMPOSE_SERVICE = "com.docker.compose.service";
export const COMPOSE_NUMBER = "com.docker.compose.container-number";
export const COMPOSE_HASH = "com.docker.compose.config-hash";
export const COMPOSE_ONEOFF = "com.docker.compose.oneoff";
export const COMPOSE_NETWORK = "com.docker.compose.network";
export const COMPOSE_VOLUME = "com.docker.compose.volume";

export type Condition = "service_started" | "service_healthy" | "service_completed_successfully";

export interface HostServicePlan {
  service: string;
  replicas: number;
  /** Docker's `POST /containers/create` body for every container of the service (the number goes in `containerName`). */
  body: Record<string, unknown>;
  /** sha256 of the service's configuration: a container with another hash is recreated. */
  configHash: string;
  /** Networks past the first, connected after create (as compose does), with their aliases. */
  moreNetworks: { network: string; aliases: string[] }[];
  dependsOn: { service: string; condition: Condition; required: boolean }[];
  /** When the image is built here first: the tag it gets, and how. */
  build?: {
    tag: string;
    /** A directory of the stack ("" for its own). */
    context: string;
    dockerfile?: string;
    args: Record<string, string>;
    target?: string;
    labels: Record<string, string>;
    noCache: boolean;
    pull: boolean;
  };
}

export interface HostPlan {
  project: string;
  /** Services in an order that starts every dependency first. */
  services: HostServicePlan[];
  networks: { name: string; external: boolean; internal: boolean; labels: Record<string, string> }[];
  volumes: { name: string; external: boolean; labels: Record<string, string> }[];
}

export class HostPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
    this.name = "HostPlanError";
  }
}

export const containerName = (project: string, service: string, n: number) => `${project}-${service}-${n}`;

export function planHost(project: string, model: ComposeFile): HostPlan {
  const problems: string[] = [];
  const scoped = (name: string) => `${project}_${name}`;
  const named = (def: Parameters<typeof objectName>[0], key: string) => objectName(def, key, scoped);

  const used = new Set<string>();
  const plans = new Map<string, HostServicePlan>();
  for (const [key, svc] of Object.entries(model.services)) {
    const at = `services.${key}`;
    if (svc.secrets?.length || svc.configs?.length)
      problems.push(`${at}: secrets and configs are not yet supported on a single-host stack`);
    const nets = svc.network_mode ? {} : svc.networks && Object.keys(svc.networks).length ? svc.networks : { default: null };
    for (const n of Object.keys(nets)) used.add(n);
    const labels: Record<string, string> = {
      ...dict(svc.labels),
      [COMPOSE_PROJECT]: project,
      [COMPOSE_SERVICE]: key,
      [COMPOSE_ONEOFF]: "False",
    };
    const image = svc.image ?? `${project}-${key}`;
    const [firstNet, ...otherNets] = Object.entries(nets);
    const aliasesOf = (opts: { aliases?: string[] } | null) => [key, ...(opts?.aliases ?? [])];
    const moreNetworks = otherNets.map(([n, opts]) => ({ network: named(model.networks?.[n], n), aliases: aliasesOf(opts) }));
    const mounts = mountsOf(
      svc.volumes ?? [],
      (name) => named(model.volumes?.[name], name),
      (why) => problems.push(`${at}.volumes: ${why}`),
    );
    const body: Record<string, unknown> = {
      Image: image,
      ...(svc.entrypoint != null ? { Entrypoint: commandWords(svc.entrypoint, (why) => problems.push(`${at}.entrypoint: ${why}`)) } : {}),
      ...(svc.command != null ? { Cmd: commandWords(svc.command, (why) => problems.push(`${at}.command: ${why}`)) } : {}),
      Env: Object.entries(dict(svc.environment)).map(([k, v]) => `${k}=${v}`),
      Labels: labels,
      ...(svc.user !== undefined ? { User: svc.user } : {}),
      ...(svc.working_dir !== undefined ? { WorkingDir: svc.working_dir } : {}),
      ...(svc.hostname !== undefined ? { Hostname: svc.hostname } : {}),
      ...(svc.stop_signal !== undefined ? { StopSignal: svc.stop_signal } : {}),
      ...(svc.stop_grace_period !== undefined ? { StopTimeout: Math.ceil(ms(svc.stop_grace_period) / 1000) } : {}),
      ...(svc.tty ? { Tty: true } : {}),
      ...(svc.stdin_open ? { OpenStdin: true } : {}),
      ...(svc.expose
        ? { ExposedPorts: Object.fromEntries(svc.expose.map((p) => [String(p).includes("/") ? String(p) : `${p}/tcp`, {}])) }
        : {}),
      ...(svc.healthcheck ? { Healthcheck: healthcheckOf(svc.healthcheck) } : {}),
      ...(mounts.anonymous.length ? { Volumes: Object.fromEntries(mounts.anonymous.map((t) => [t, {}])) } : {}),
      HostConfig: {
        ...(svc.network_mode
          ? { NetworkMode: networkMode(svc.network_mode, project) }
          : { NetworkMode: firstNet ? named(model.networks?.[firstNet[0]], firstNet[0]) : "none" }),
        ...portsOf(svc.ports ?? [], (why) => problems.push(`${at}.ports: ${why}`)),
        Binds: mounts.binds,
        ...(svc.tmpfs ? { Tmpfs: Object.fromEntries((typeof svc.tmpfs === "string" ? [svc.tmpfs] : svc.tmpfs).map((t) => [t, ""])) } : {}),
        RestartPolicy: restartOf(svc.restart),
        ...(svc.cap_add ? { CapAdd: svc.cap_add } : {}),
        ...(svc.cap_drop ? { CapDrop: svc.cap_drop } : {}),
        ...(svc.extra_hosts ? { ExtraHosts: extraHosts(svc.extra_hosts) } : {}),
        ...(svc.dns ? { Dns: typeof svc.dns === "string" ? [svc.dns] : svc.dns } : {}),
        ...(svc.dns_search ? { DnsSearch: typeof svc.dns_search === "string" ? [svc.dns_search] : svc.dns_search } : {}),
        ...(svc.read_only ? { ReadonlyRootfs: true } : {}),
        ...(svc.init ? { Init: true } : {}),
        ...(svc.logging
          ? {
              LogConfig: {
                Type: svc.logging.driver ?? "",
                Config: Object.fromEntries(Object.entries(svc.logging.options ?? {}).map(([k, v]) => [k, String(v)])),
              },
            }
          : {}),
        ...limits(svc.deploy?.resources?.limits),
      },
      ...(firstNet
        ? {
            NetworkingConfig: {
              EndpointsConfig: { [named(model.networks?.[firstNet[0]], firstNet[0])]: { Aliases: aliasesOf(firstNet[1]) } },
            },
          }
        : {}),
    };
    const configHash = hashOf({ body, moreNetworks });
    labels[COMPOSE_HASH] = configHash;
    const dependsOn = Object.entries(svc.depends_on && !Array.isArray(svc.depends_on) ? svc.depends_on : {}).map(([service, d]) => ({
      service,
      condition: d.condition ?? "service_started",
      required: d.required ?? true,
    }));
    const build = buildOf(svc, image, at, problems);
    plans.set(key, {
      service: key,
      replicas: svc.deploy?.replicas ?? 1,
      body,
      configHash,
      moreNetworks,
      dependsOn,
      ...(build ? { build } : {}),
    });
  }

  const networks = [...used].map((key) => {
    const def = model.networks?.[key];
    if (def?.driver && def.driver !== "bridge")
      problems.push(`networks.${key}.driver: a single-host stack's networks are bridge networks (got ${def.driver})`);
    return {
      name: named(def, key),
      external: Boolean(def?.external),
      internal: def?.internal ?? false,
      labels: { ...dict(def?.labels), [COMPOSE_PROJECT]: project, [COMPOSE_NETWORK]: key },
    };
  });
  const volumes = Object.entries(model.volumes ?? {}).map(([key, def]) => ({
    name: named(def, key),
    external: Boolean(def?.external),
    labels: { ...dict(def?.labels), [COMPOSE_PROJECT]: project, [COMPOSE_VOLUME]: key },
  }));
  const ordered = startOrder(plans, problems);
  if (problems.length) throw new HostPlanError(problems);
  return { project, services: ordered, networks, volumes };
}

/** Dependencies first; a cycle is a problem naming it. */
function startOrder(plans: Map<string, HostServicePlan>, problems: string[]): HostServicePlan[] {
  const out: HostServicePlan[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      problems.push(`depends_on has a cycle: ${[...trail.slice(trail.indexOf(name)), name].join(" → ")}`);
      return;
    }
    state.set(name, "visiting");
    for (const d of plans.get(name)!.dependsOn) if (plans.has(d.service)) visit(d.service, [...trail, name]);
    state.set(name, "done");
    out.push(plans.get(name)!);
  };
  for (const name of plans.keys()) visit(name, []);
  return out;
}

/** JSON with keys sorted at every level, hashed: equal configurations hash equal. */
function hashOf(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, canonical(x)]),
          )
        : v;
  return createHash("sha256")
    .update(JSON.stringify(canonical(value)))
    .digest("hex");
}

function networkMode(mode: string, project: string): string {
  if (mode.startsWith("service:")) return `container:${containerName(project, mode.slice(8), 1)}`;
  return mode;
}

function restartOf(restart: string | undefined): { Name: string; MaximumRetryCount: number } {
  if (!restart || restart === "no") return { Name: "no", MaximumRetryCount: 0 };
  const [name, n] = restart.split(":");
  return { Name: name!, MaximumRetryCount: n ? Number(n) : 0 };
}

function extraHosts(v: string[] | Record<string, string | number | boolean | null>): string[] {
  if (Array.isArray(v)) return v.map((e) => e.replace("=", ":"));
  return Object.entries(v).map(([h, ip]) => `${h}:${ip}`);
}

function limits(l: { cpus?: string | number; memory?: string | number } | undefined) {
  return {
    ...(l?.cpus !== undefined ? { NanoCpus: Math.round(Number(l.cpus) * 1e9) } : {}),
    ...(l?.memory !== undefined ? { Memory: bytes(l.memory) } : {}),
  };
}

/** Ports as Docker's PortBindings: `[ip:]published:target[/proto]`, ranges, or the long form. */
function portsOf(ports: NonNullable<ComposeService["ports"]>, problem: (why: string) => void) {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  const add = (target: number, proto: string, hostIp: string, published: string) => {
    const key = `${target}/${proto}`;
    bindings[key] = [...(bindings[key] ?? []), { HostIp: hostIp, HostPort: published }];
  };
  for (const p of ports) {
    if (typeof p === "number") add(p, "tcp", "", "");
    else if (typeof p === "object")
      add(p.target, p.protocol ?? "tcp", p.host_ip ?? "", p.published === undefined ? "" : String(p.published));
    else for (const x of shortPorts(p, problem)) add(x.target, x.protocol, x.hostIp, x.published === undefined ? "" : String(x.published));
  }
  return Object.keys(bindings).length ? { PortBindings: bindings } : {};
}

/**
 * Volumes as Docker's Binds (named volumes and absolute host paths) and anonymous ones (the
 * container's Volumes). A relative host path has no meaning on a host the stack's files are not on.
 */
function mountsOf(
  volumes: NonNullable<ComposeService["volumes"]>,
  volumeName: (key: string) => string,
  problem: (why: string) => void,
): { binds: string[]; anonymous: string[] } {
  const binds: string[] = [];
  const anonymous: string[] = [];
  for (const v of volumes) {
    if (typeof v === "object" && v.type === "tmpfs") {
      problem(`put tmpfs mounts in tmpfs: (${v.target})`);
      continue;
    }
    const [source, target, mode] = typeof v === "string" ? splitShort(v) : [v.source ?? "", v.target, v.read_only ? "ro" : ""];
    if (source === "") {
      anonymous.push(target);
      continue;
    }
    if (!source.startsWith("/") && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
      problem(`a host path on a single-host stack is absolute (got ${source}): the stack's files are not on the host`);
      continue;
    }
    binds.push([source.startsWith("/") ? source : volumeName(source), target, ...(mode ? [mode] : [])].join(":"));
  }
  return { binds, anonymous };
}

function splitShort(v: string): [string, string, string] {
  const parts = v.split(":");
  if (parts.length === 1) return ["", parts[0]!, ""];
  return [parts[0]!, parts[1]!, parts[2] ?? ""];
}

function buildOf(svc: ComposeService, image: string, at: string, problems: string[]): HostServicePlan["build"] {
  if (svc.build === undefined) return undefined;
  const b = typeof svc.build === "string" ? { context: svc.build } : svc.build;
  const context = contextDir(b.context ?? ".");
  if (context instanceof Error) problems.push(`${at}.build: ${context.message}`);
  if (b.dockerfile !== undefined && (posix.isAbsolute(b.dockerfile) || posix.normalize(b.dockerfile).startsWith("../")))
    problems.push(`${at}.build.dockerfile: the Dockerfile is a path inside the build context`);
  if (b.network !== undefined && b.network !== "default") problems.push(`${at}.build.network: builds use the host's default network`);
  return {
    tag: image,
    context: context instanceof Error ? "" : context,
    ...(b.dockerfile ? { dockerfile: posix.normalize(b.dockerfile) } : {}),
    args: dict(b.args),
    ...(b.target ? { target: b.target } : {}),
    labels: dict(b.labels),
    noCache: b.no_cache ?? false,
    pull: b.pull ?? false,
  };
}
