import { type Mount, MountSpecError, parseBind } from "@berth/protocol";
import type { ServiceSpecInput } from "../services/spec.ts";
import type { ComposeFile, ComposeService } from "./compose/schema.ts";
import { bytes, commandWords, dict, healthcheckOf, ms, objectName, shortPorts } from "./compose/values.ts";

/*
 * A compose model as a fleet stack, with `docker stack deploy`'s semantics: each service becomes
 * a Berth service named `<stack>_<service>`, networks become overlay networks `<stack>_<name>`
 * (every service is on `<stack>_default` unless it names networks; only networks some service
 * joins are made), named volumes become
 * `<stack>_<name>` on each host a task lands on, and secrets and configs are the team's
 * `<stack>_<name>` (or the named ones when external). Everything carries
 * `com.docker.stack.namespace`. Keys a fleet cannot honour are refused by name, each with why;
 * keys `docker stack deploy` ignores (depends_on, restart, container_name) are reported as ignored.
 */

export const STACK_LABEL = "com.docker.stack.namespace";

export interface FleetNetwork {
  name: string;
  internal: boolean;
  attachable: boolean;
  encrypted: boolean;
  labels: Record<string, string>;
  /** Made elsewhere: used, never created or removed by the stack. */
  external: boolean;
}

export interface FleetFile {
  /** The name the team's secret or config has. */
  name: string;
  /** Read from this file of the stack's source (`file:`), or from the stack's env (`environment:`); neither when external. */
  file?: string;
  environment?: string;
  external: boolean;
  labels: Record<string, string>;
}

export interface FleetPlan {
  services: ServiceSpecInput[];
  networks: FleetNetwork[];
  secrets: FleetFile[];
  configs: FleetFile[];
  /** Keys read and ignored, as `docker stack deploy` ignores them ("services.web.depends_on"). */
  ignored: string[];
}

export class FleetPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
    this.name = "FleetPlanError";
  }
}

/** Keys a fleet stack reads and ignores, with `docker stack deploy`. */
const IGNORED = ["depends_on", "restart", "container_name", "profiles", "pull_policy", "stdin_open", "tty", "init"] as const;
/** Keys a fleet stack cannot honour, and why. */
const REFUSED: Partial<Record<keyof ComposeService, string>> = {
  build: "a fleet stack runs images; build them first (or use a single-host stack)",
  network_mode: "tasks join the stack's overlay networks",
  cap_add: "services run with Docker's default capabilities",
  cap_drop: "services run with Docker's default capabilities",
  extra_hosts: "not supported for services",
  dns: "tasks use the overlay network's DNS",
  dns_search: "tasks use the overlay network's DNS",
  read_only: "not supported for services",
  logging: "tasks log with the host's default driver",
  expose: "services reach each other on their overlay networks without it",
};

export function planFleet(stack: string, model: ComposeFile): FleetPlan {
  const problems: string[] = [];
  const ignored: string[] = [];
  const scoped = (name: string) => `${stack}_${name}`;
  const stackLabels = { [STACK_LABEL]: stack };

  const networkName = (key: string) => objectName(model.networks?.[key], key, scoped);
  const fileName = (kind: "secrets" | "configs", key: string) => objectName(model[kind]?.[key], key, scoped);
  const volumeName = (key: string) => objectName(model.volumes?.[key], key, scoped);

  /** Networks some service joins (by compose key): only these are made, as `docker stack deploy` does. */
  const used = new Set<string>();
  const services: ServiceSpecInput[] = [];
  for (const [key, svc] of Object.entries(model.services)) {
    const at = `services.${key}`;
    for (const k of IGNORED) if (svc[k] !== undefined) ignored.push(`${at}.${k}`);
    for (const [k, why] of Object.entries(REFUSED)) if (svc[k as keyof ComposeService] !== undefined) problems.push(`${at}.${k}: ${why}`);
    if (svc.image === undefined) {
      problems.push(`${at}: a fleet stack needs an image`);
      continue;
    }
    const nets = svc.networks && Object.keys(svc.networks).length ? svc.networks : { default: null };
    for (const n of Object.keys(nets)) used.add(n);
    const deploy = svc.deploy ?? {};
    const spec: ServiceSpecInput = {
      name: scoped(key),
      labels: { ...dict(deploy.labels), ...stackLabels },
      task: {
        image: svc.image,
        ...(svc.entrypoint != null ? { command: commandWords(svc.entrypoint, (why) => problems.push(`${at}.entrypoint: ${why}`)) } : {}),
        ...(svc.command != null ? { args: commandWords(svc.command, (why) => problems.push(`${at}.command: ${why}`)) } : {}),
        env: Object.entries(dict(svc.environment)).map(([k, v]) => `${k}=${v}`),
        labels: { ...dict(svc.labels), ...stackLabels },
        ...(svc.user !== undefined ? { user: svc.user } : {}),
        ...(svc.working_dir !== undefined ? { workdir: svc.working_dir } : {}),
        ...(svc.hostname !== undefined ? { hostname: svc.hostname } : {}),
        ...(svc.stop_signal !== undefined ? { stopSignal: svc.stop_signal } : {}),
        ...(svc.stop_grace_period !== undefined ? { stopGracePeriodMs: ms(svc.stop_grace_period) } : {}),
        mounts: mountsOf(svc, volumeName, (p) => problems.push(`${at}.volumes: ${p}`)),
        ...(svc.healthcheck ? { healthcheck: healthcheckOf(svc.healthcheck) } : {}),
        resources: {
          limits: resourceSet(deploy.resources?.limits),
          reservations: resourceSet(deploy.resources?.reservations),
        },
        restartPolicy: {
          ...(deploy.restart_policy?.condition ? { condition: deploy.restart_policy.condition } : {}),
          ...(deploy.restart_policy?.delay ? { delayMs: ms(deploy.restart_policy.delay) } : {}),
          ...(deploy.restart_policy?.max_attempts !== undefined ? { maxAttempts: deploy.restart_policy.max_attempts } : {}),
          ...(deploy.restart_policy?.window ? { windowMs: ms(deploy.restart_policy.window) } : {}),
        },
        placement: {
          constraints: deploy.placement?.constraints ?? [],
          preferences: deploy.placement?.preferences ?? [],
          maxReplicasPerHost: deploy.placement?.max_replicas_per_node ?? 0,
          // As docker stack deploy does with the image's platform: hosts of this OS and architecture only.
          ...(svc.platform ? { platforms: [{ os: svc.platform.split("/")[0]!, arch: svc.platform.split("/")[1]! }] } : {}),
        },
        networks: Object.entries(nets).map(([n, opts]) => ({
          target: networkName(n),
          // As in Swarm: the service's own name answers on every network it joins.
          aliases: [key, ...(opts?.aliases ?? [])],
        })),
        secrets: (svc.secrets ?? []).map((r) => fileRef("secrets", r, fileName)),
        configs: (svc.configs ?? []).map((r) => fileRef("configs", r, fileName)),
      },
      mode: deploy.mode === "global" ? { kind: "global" } : { kind: "replicated", replicas: deploy.replicas ?? 1 },
      endpoint: {
        mode: deploy.endpoint_mode ?? "vip",
        ports: (svc.ports ?? []).flatMap((p) => portsOf(p, (why) => problems.push(`${at}.ports: ${why}`))),
      },
      ...(deploy.update_config ? { updateConfig: updateConfigOf(deploy.update_config) } : {}),
      ...(deploy.rollback_config ? { rollbackConfig: updateConfigOf(deploy.rollback_config) } : {}),
    };
    services.push(spec);
  }

  const networks: FleetNetwork[] = [...used].map((key) => {
    const def = model.networks?.[key];
    if (def?.driver && def.driver !== "overlay")
      problems.push(`networks.${key}.driver: a fleet stack's networks are overlay networks (got ${def.driver})`);
    return {
      name: networkName(key),
      internal: def?.internal ?? false,
      attachable: def?.attachable ?? false,
      encrypted: def?.driver_opts?.encrypted !== undefined,
      labels: { ...dict(def?.labels), ...stackLabels },
      external: Boolean(def?.external),
    };
  });

  const filesOf = (kind: "secrets" | "configs"): FleetFile[] =>
    Object.entries(model[kind] ?? {}).map(([key, def]) => {
      if (!def?.external && def?.file === undefined && def?.environment === undefined)
        problems.push(`${kind}.${key}: give file:, environment: or external: true`);
      if (def?.content !== undefined) problems.push(`${kind}.${key}.content: not supported; use file: or environment:`);
      return {
        name: fileName(kind, key),
        ...(def?.file !== undefined ? { file: def.file } : {}),
        ...(def?.environment !== undefined ? { environment: def.environment } : {}),
        external: Boolean(def?.external),
        labels: { ...dict(def?.labels), ...stackLabels },
      };
    });
  const secrets = filesOf("secrets");
  const configs = filesOf("configs");
  if (problems.length) throw new FleetPlanError(problems);
  return { services, networks, secrets, configs, ignored };
}

function resourceSet(r: { cpus?: string | number; memory?: string | number } | undefined) {
  return {
    ...(r?.cpus !== undefined ? { nanoCpus: Math.round(Number(r.cpus) * 1e9) } : {}),
    ...(r?.memory !== undefined ? { memoryBytes: bytes(r.memory) } : {}),
  };
}

function updateConfigOf(u: NonNullable<NonNullable<ComposeService["deploy"]>["update_config"]>) {
  return {
    ...(u.parallelism !== undefined ? { parallelism: u.parallelism } : {}),
    ...(u.delay ? { delayMs: ms(u.delay) } : {}),
    ...(u.failure_action ? { failureAction: u.failure_action } : {}),
    ...(u.monitor ? { monitorMs: ms(u.monitor) } : {}),
    ...(u.max_failure_ratio !== undefined ? { maxFailureRatio: u.max_failure_ratio } : {}),
    ...(u.order ? { order: u.order } : {}),
  };
}

function fileRef(
  kind: "secrets" | "configs",
  r: string | { source: string; target?: string; uid?: string; gid?: string; mode?: number },
  nameOf: (kind: "secrets" | "configs", key: string) => string,
) {
  if (typeof r === "string") return { source: nameOf(kind, r), target: r };
  return {
    source: nameOf(kind, r.source),
    target: r.target ?? r.source,
    ...(r.uid !== undefined ? { uid: r.uid } : {}),
    ...(r.gid !== undefined ? { gid: r.gid } : {}),
    ...(r.mode !== undefined ? { mode: r.mode } : {}),
  };
}

type Port = NonNullable<ComposeService["ports"]>[number];
type PublishedPort = { target: number; published?: number; protocol: "tcp" | "udp"; publishMode: "ingress" | "host" };

/** compose's port forms: 80, "8080:80", "8080:80/udp", "8000-8001:80-81", or the long form. */
function portsOf(p: Port, problem: (why: string) => void): PublishedPort[] {
  if (typeof p === "number") return [{ target: p, protocol: "tcp", publishMode: "ingress" }];
  if (typeof p === "object") {
    if (p.host_ip) problem(`host_ip is not supported for a fleet stack's ports (${p.host_ip})`);
    const published = p.published === undefined ? undefined : Number(p.published);
    return [
      {
        target: p.target,
        ...(published !== undefined ? { published } : {}),
        protocol: p.protocol ?? "tcp",
        publishMode: p.mode ?? "ingress",
      },
    ];
  }
  const ports = shortPorts(p, problem);
  if (ports.some((x) => x.hostIp)) {
    problem(`a host address is not supported for a fleet stack's ports (${p})`);
    return [];
  }
  return ports.map(({ target, published, protocol }) => ({
    target,
    ...(published !== undefined ? { published } : {}),
    protocol,
    publishMode: "ingress" as const,
  }));
}

type Volume = NonNullable<ComposeService["volumes"]>[number];

function mountsOf(svc: ComposeService, volumeName: (key: string) => string, problem: (why: string) => void): Mount[] {
  const out: Mount[] = [];
  for (const v of svc.volumes ?? []) {
    const m = mountOf(v, volumeName, problem);
    if (m) out.push(m);
  }
  for (const t of typeof svc.tmpfs === "string" ? [svc.tmpfs] : (svc.tmpfs ?? [])) out.push({ Type: "tmpfs", Target: t });
  return out;
}

function mountOf(v: Volume, volumeName: (key: string) => string, problem: (why: string) => void): Mount | null {
  if (typeof v === "object") {
    if (v.type === "bind" && !v.source?.startsWith("/")) {
      problem(`a fleet stack's bind mounts name absolute host paths (got ${v.source ?? "nothing"})`);
      return null;
    }
    return {
      Type: v.type,
      Target: v.target,
      ...(v.source !== undefined ? { Source: v.type === "volume" ? volumeName(v.source) : v.source } : {}),
      ...(v.read_only ? { ReadOnly: true } : {}),
      ...(v.volume?.nocopy ? { VolumeOptions: { NoCopy: true } } : {}),
      ...(v.tmpfs?.size !== undefined ? { TmpfsOptions: { SizeBytes: bytes(v.tmpfs.size) } } : {}),
    } as Mount;
  }
  if (/^(\.|~)/.test(v)) {
    problem(`a fleet stack's bind mounts name absolute host paths (got ${v.split(":")[0]})`);
    return null;
  }
  try {
    const b = parseBind(v);
    return {
      Type: b.type,
      Target: b.target,
      ...(b.source ? { Source: b.type === "volume" ? volumeName(b.source) : b.source } : {}),
      ...(b.readOnly ? { ReadOnly: true } : {}),
      ...(b.noCopy ? { VolumeOptions: { NoCopy: true } } : {}),
    } as Mount;
  } catch (e) {
    if (!(e instanceof MountSpecError)) throw e;
    problem(e.message);
    return null;
  }
}
