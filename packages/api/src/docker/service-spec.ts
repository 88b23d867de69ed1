import { z } from "zod";
import { badRequest } from "@berth/docker-api";
import type { ServiceSpec, ServiceSpecInput } from "@berth/core";

/*
 * Swarm's ServiceSpec (the Engine API's shape: PascalCase, durations in nanoseconds) to Berth's
 * service spec and back. Berth's fields mean what Swarm's do (core's services/spec.ts), so this is
 * renaming and unit conversion only. Settings Berth cannot honour yet are refused by name rather
 * than dropped; fields that only carry Swarm's defaults are accepted.
 */

const ns = z.number().int().min(0);
const Str = z.string().max(131_072);

const SwarmUpdateConfig = z
  .object({
    Parallelism: z.number().int().min(0).optional(),
    Delay: ns.optional(),
    FailureAction: z.enum(["pause", "continue", "rollback"]).optional(),
    Monitor: ns.optional(),
    MaxFailureRatio: z.number().min(0).max(1).optional(),
    Order: z.enum(["stop-first", "start-first"]).optional(),
  })
  .nullish();

/** Swarm's SecretReference and ConfigReference: Berth refers by name, which the CLI always sends beside the ID. */
function SwarmFileRef(kind: "Secret" | "Config") {
  return z.object({
    File: z
      .object({
        Name: z.string().min(1).max(4096),
        UID: z.string().max(10).optional(),
        GID: z.string().max(10).optional(),
        Mode: z.number().int().min(0).max(0o777).optional(),
      })
      .nullish(),
    Runtime: z.object({}).nullish(),
    [`${kind}ID`]: z.string().max(128).optional(),
    [`${kind}Name`]: z.string().min(1, `${kind}Name is required`).max(64),
  });
}
type SwarmFileRefValue = { File?: { Name: string; UID?: string; GID?: string; Mode?: number } | null } & Record<string, unknown>;

function fileRefOf(kind: "Secret" | "Config", r: SwarmFileRefValue) {
  if (!r.File) throw badRequest(`Berth gives ${kind.toLowerCase()}s to tasks as files: ${kind}s[].File is required`);
  return {
    source: r[`${kind}Name`] as string,
    target: r.File.Name,
    ...(r.File.UID ? { uid: r.File.UID } : {}),
    ...(r.File.GID ? { gid: r.File.GID } : {}),
    ...(r.File.Mode !== undefined ? { mode: r.File.Mode } : {}),
  };
}

/** Names to IDs, for the references `docker service inspect` shows. */
export interface FileIds {
  secrets: ReadonlyMap<string, string>;
  configs: ReadonlyMap<string, string>;
}

export const SwarmServiceSpecSchema = z.object({
  Name: z.string().max(256).optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  TaskTemplate: z.object({
    ContainerSpec: z
      .object({
        Image: z.string().min(1, "ContainerSpec.Image is required").max(1024),
        Labels: z.record(z.string(), z.string()).nullish(),
        Command: z.array(Str).nullish(),
        Args: z.array(Str).nullish(),
        Hostname: z.string().max(63).optional(),
        Env: z.array(Str).nullish(),
        Dir: z.string().max(4096).optional(),
        User: z.string().max(256).optional(),
        Mounts: z.array(z.record(z.string(), z.unknown())).nullish(),
        StopGracePeriod: ns.nullish(),
        StopSignal: z.string().max(32).optional(),
        Healthcheck: z.record(z.string(), z.unknown()).nullish(),
        // Accepted when they hold Swarm's defaults; refused otherwise (see UNSUPPORTED).
        TTY: z.boolean().optional(),
        OpenStdin: z.boolean().optional(),
        ReadOnly: z.boolean().optional(),
        Init: z.boolean().nullish(),
        Privileges: z.unknown().optional(),
        Secrets: z.array(SwarmFileRef("Secret")).nullish(),
        Configs: z.array(SwarmFileRef("Config")).nullish(),
        Hosts: z.array(z.string()).nullish(),
        Groups: z.array(z.string()).nullish(),
        CapabilityAdd: z.array(z.string()).nullish(),
        CapabilityDrop: z.array(z.string()).nullish(),
        Sysctls: z.record(z.string(), z.string()).nullish(),
        Ulimits: z.array(z.unknown()).nullish(),
        DNSConfig: z.record(z.string(), z.unknown()).nullish(),
      })
      .optional(),
    Resources: z
      .object({
        Limits: z.object({ NanoCPUs: ns.optional(), MemoryBytes: ns.optional(), Pids: ns.optional() }).nullish(),
        Reservations: z.object({ NanoCPUs: ns.optional(), MemoryBytes: ns.optional() }).nullish(),
      })
      .nullish(),
    RestartPolicy: z
      .object({
        Condition: z.enum(["none", "on-failure", "any"]).optional(),
        Delay: ns.nullish(),
        MaxAttempts: z.number().int().min(0).nullish(),
        Window: ns.nullish(),
      })
      .nullish(),
    Placement: z
      .object({
        Constraints: z.array(z.string()).nullish(),
        Preferences: z.array(z.object({ Spread: z.object({ SpreadDescriptor: z.string() }) })).nullish(),
        MaxReplicas: z.number().int().min(0).optional(),
        Platforms: z.array(z.object({ Architecture: z.string().max(64).optional(), OS: z.string().max(64).optional() })).nullish(),
      })
      .nullish(),
    Networks: z.array(z.object({ Target: z.string().min(1), Aliases: z.array(z.string()).nullish() })).nullish(),
    ForceUpdate: z.number().int().min(0).optional(),
    Runtime: z.string().optional(),
    LogDriver: z.object({ Name: z.string() }).nullish(),
  }),
  Mode: z
    .object({
      Replicated: z.object({ Replicas: z.number().int().min(0).optional() }).optional(),
      Global: z.object({}).optional(),
      ReplicatedJob: z.unknown().optional(),
      GlobalJob: z.unknown().optional(),
    })
    .optional(),
  UpdateConfig: SwarmUpdateConfig,
  RollbackConfig: SwarmUpdateConfig,
  EndpointSpec: z
    .object({
      Mode: z.enum(["vip", "dnsrr"]).optional(),
      Ports: z
        .array(
          z.object({
            Protocol: z.enum(["tcp", "udp", "sctp"]).optional(),
            TargetPort: z.number().int().min(1).max(65_535),
            PublishedPort: z.number().int().min(0).max(65_535).optional(),
            PublishMode: z.enum(["ingress", "host"]).optional(),
          }),
        )
        .nullish(),
    })
    .nullish(),
});
export type SwarmServiceSpec = z.infer<typeof SwarmServiceSpecSchema>;

type ContainerSpec = NonNullable<SwarmServiceSpec["TaskTemplate"]["ContainerSpec"]>;

/** Settings Berth's tasks cannot honour yet: refused when set, so nothing is silently dropped. */
const UNSUPPORTED: Array<[keyof ContainerSpec, string]> = [
  ["TTY", "a TTY for tasks"],
  ["OpenStdin", "stdin for tasks"],
  ["ReadOnly", "read-only root filesystems for tasks"],
  ["Init", "an init process for tasks"],
  ["Privileges", "credential specs, SELinux and AppArmor settings"],
  ["Hosts", "extra /etc/hosts entries for tasks"],
  ["Groups", "extra groups for tasks"],
  ["CapabilityAdd", "added capabilities for tasks"],
  ["CapabilityDrop", "dropped capabilities for tasks"],
  ["Sysctls", "sysctls for tasks"],
  ["Ulimits", "ulimits for tasks"],
];

/** Whether a field holds a setting: not absent, null, false, empty, or an object of only such (`{"CredentialSpec": null}`). */
const isSet = (v: unknown): boolean => {
  if (v === undefined || v === null || v === false || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.values(v as object).some(isSet);
  return true;
};

const ms = (n: number | null | undefined) => (n === undefined || n === null ? undefined : Math.round(n / 1e6));
const toNs = (n: number) => n * 1e6;

function updateConfigOf(c: z.infer<typeof SwarmUpdateConfig>) {
  if (!c) return undefined;
  return {
    ...(c.Parallelism !== undefined ? { parallelism: c.Parallelism } : {}),
    ...(c.Delay !== undefined ? { delayMs: ms(c.Delay) } : {}),
    ...(c.FailureAction ? { failureAction: c.FailureAction } : {}),
    ...(c.Monitor !== undefined ? { monitorMs: ms(c.Monitor) } : {}),
    ...(c.MaxFailureRatio !== undefined ? { maxFailureRatio: c.MaxFailureRatio } : {}),
    ...(c.Order ? { order: c.Order } : {}),
  };
}

/** Berth's spec for a Swarm ServiceSpec; a bad or unsupported one is a 400 naming the field. */
export function fromSwarmSpec(raw: unknown): ServiceSpecInput {
  const parsed = SwarmServiceSpecSchema.safeParse(raw);
  if (!parsed.success)
    throw badRequest(`invalid service spec: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const s = parsed.data;
  const c = s.TaskTemplate.ContainerSpec;
  if (!c) throw badRequest("invalid service spec: TaskTemplate.ContainerSpec is required (Berth runs containers)");
  if (!s.Name) throw badRequest("invalid service spec: Name is required");
  for (const [key, what] of UNSUPPORTED) if (isSet(c[key])) throw badRequest(`Berth does not support ${what} yet (ContainerSpec.${key})`);
  if (s.Mode?.ReplicatedJob || s.Mode?.GlobalJob)
    throw badRequest("Berth does not support job services yet (Mode.ReplicatedJob, Mode.GlobalJob)");
  const t = s.TaskTemplate;
  const ports = (s.EndpointSpec?.Ports ?? []).map((p) => {
    if (p.Protocol === "sctp") throw badRequest("Berth publishes tcp and udp ports only");
    // No published port: the control plane picks one (30000-32767 for the routing mesh, as Swarm).
    const publishMode = p.PublishMode ?? "ingress";
    return {
      target: p.TargetPort,
      ...(p.PublishedPort ? { published: p.PublishedPort } : {}),
      protocol: p.Protocol ?? "tcp",
      publishMode,
    };
  });
  const limits = t.Resources?.Limits;
  const reservations = t.Resources?.Reservations;
  const restart = t.RestartPolicy;
  return {
    name: s.Name,
    labels: s.Labels ?? {},
    task: {
      image: c.Image,
      ...(c.Command?.length ? { command: c.Command } : {}),
      ...(c.Args?.length ? { args: c.Args } : {}),
      env: c.Env ?? [],
      labels: c.Labels ?? {},
      ...(c.User ? { user: c.User } : {}),
      ...(c.Dir ? { workdir: c.Dir } : {}),
      ...(c.Hostname ? { hostname: c.Hostname } : {}),
      mounts: (c.Mounts ?? []) as never,
      ...(c.Healthcheck && Object.keys(c.Healthcheck).length ? { healthcheck: c.Healthcheck as never } : {}),
      ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
      ...(c.StopGracePeriod !== undefined && c.StopGracePeriod !== null ? { stopGracePeriodMs: ms(c.StopGracePeriod) } : {}),
      resources: {
        limits: {
          ...(limits?.NanoCPUs ? { nanoCpus: limits.NanoCPUs } : {}),
          ...(limits?.MemoryBytes ? { memoryBytes: limits.MemoryBytes } : {}),
          ...(limits?.Pids ? { pids: limits.Pids } : {}),
        },
        reservations: {
          ...(reservations?.NanoCPUs ? { nanoCpus: reservations.NanoCPUs } : {}),
          ...(reservations?.MemoryBytes ? { memoryBytes: reservations.MemoryBytes } : {}),
        },
      },
      ...(restart
        ? {
            restartPolicy: {
              ...(restart.Condition ? { condition: restart.Condition } : {}),
              ...(restart.Delay !== undefined && restart.Delay !== null ? { delayMs: ms(restart.Delay) } : {}),
              ...(restart.MaxAttempts !== undefined && restart.MaxAttempts !== null ? { maxAttempts: restart.MaxAttempts } : {}),
              ...(restart.Window !== undefined && restart.Window !== null ? { windowMs: ms(restart.Window) } : {}),
            },
          }
        : {}),
      placement: {
        constraints: t.Placement?.Constraints ?? [],
        preferences: (t.Placement?.Preferences ?? []).map((p) => ({ spread: p.Spread.SpreadDescriptor })),
        maxReplicasPerHost: t.Placement?.MaxReplicas ?? 0,
        platforms: (t.Placement?.Platforms ?? []).flatMap((p) => (p.OS && p.Architecture ? [{ os: p.OS, arch: p.Architecture }] : [])),
      },
      networks: (t.Networks ?? []).map((n) => ({ target: n.Target, aliases: n.Aliases ?? [] })),
      secrets: (c.Secrets ?? []).map((r) => fileRefOf("Secret", r as SwarmFileRefValue)),
      configs: (c.Configs ?? []).map((r) => fileRefOf("Config", r as SwarmFileRefValue)),
      forceUpdate: t.ForceUpdate ?? 0,
    },
    // An omitted replica count means 1, as with `docker service create`.
    mode: s.Mode?.Global ? { kind: "global" } : { kind: "replicated", replicas: s.Mode?.Replicated?.Replicas ?? 1 },
    endpoint: { mode: s.EndpointSpec?.Mode ?? "vip", ports },
    ...(s.UpdateConfig ? { updateConfig: updateConfigOf(s.UpdateConfig) } : {}),
    ...(s.RollbackConfig ? { rollbackConfig: updateConfigOf(s.RollbackConfig) } : {}),
  } as ServiceSpecInput;
}

const swarmUpdate = (u: ServiceSpec["updateConfig"]) => ({
  Parallelism: u.parallelism,
  Delay: toNs(u.delayMs),
  FailureAction: u.failureAction,
  Monitor: toNs(u.monitorMs),
  MaxFailureRatio: u.maxFailureRatio,
  Order: u.order,
});

/** The ServiceSpec `docker service inspect` shows for a stored spec (every default filled in, as insertDefaults). */
export function toSwarmSpec(s: ServiceSpec, ids: FileIds) {
  const t = s.task;
  const refs = (kind: "Secret" | "Config", list: ServiceSpec["task"]["secrets"], byName: ReadonlyMap<string, string>) =>
    list.map((r) => ({
      File: { Name: r.target ?? r.source, UID: r.uid, GID: r.gid, Mode: r.mode },
      [`${kind}ID`]: byName.get(r.source) ?? "",
      [`${kind}Name`]: r.source,
    }));
  return {
    Name: s.name,
    Labels: s.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: t.image,
        Labels: t.labels,
        ...(t.command ? { Command: t.command } : {}),
        ...(t.args ? { Args: t.args } : {}),
        ...(t.hostname ? { Hostname: t.hostname } : {}),
        Env: t.env,
        ...(t.workdir ? { Dir: t.workdir } : {}),
        ...(t.user ? { User: t.user } : {}),
        Mounts: t.mounts,
        StopGracePeriod: toNs(t.stopGracePeriodMs),
        ...(t.stopSignal ? { StopSignal: t.stopSignal } : {}),
        ...(t.healthcheck ? { Healthcheck: t.healthcheck } : {}),
        ...(t.secrets.length ? { Secrets: refs("Secret", t.secrets, ids.secrets) } : {}),
        ...(t.configs.length ? { Configs: refs("Config", t.configs, ids.configs) } : {}),
        Isolation: "default",
      },
      Resources: {
        Limits: {
          ...(t.resources.limits.nanoCpus ? { NanoCPUs: t.resources.limits.nanoCpus } : {}),
          ...(t.resources.limits.memoryBytes ? { MemoryBytes: t.resources.limits.memoryBytes } : {}),
          ...(t.resources.limits.pids ? { Pids: t.resources.limits.pids } : {}),
        },
        Reservations: {
          ...(t.resources.reservations.nanoCpus ? { NanoCPUs: t.resources.reservations.nanoCpus } : {}),
          ...(t.resources.reservations.memoryBytes ? { MemoryBytes: t.resources.reservations.memoryBytes } : {}),
        },
      },
      RestartPolicy: {
        Condition: t.restartPolicy.condition,
        Delay: toNs(t.restartPolicy.delayMs),
        MaxAttempts: t.restartPolicy.maxAttempts,
        ...(t.restartPolicy.windowMs ? { Window: toNs(t.restartPolicy.windowMs) } : {}),
      },
      Placement: {
        ...(t.placement.constraints.length ? { Constraints: t.placement.constraints } : {}),
        ...(t.placement.preferences.length
          ? { Preferences: t.placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread } })) }
          : {}),
        ...(t.placement.maxReplicasPerHost ? { MaxReplicas: t.placement.maxReplicasPerHost } : {}),
        ...(t.placement.platforms.length ? { Platforms: t.placement.platforms.map((p) => ({ Architecture: p.arch, OS: p.os })) } : {}),
      },
      ...(t.networks.length
        ? { Networks: t.networks.map((n) => ({ Target: n.target, ...(n.aliases.length ? { Aliases: n.aliases } : {}) })) }
        : {}),
      ForceUpdate: t.forceUpdate,
      Runtime: "container",
    },
    Mode: s.mode.kind === "global" ? { Global: {} } : { Replicated: { Replicas: s.mode.replicas } },
    UpdateConfig: swarmUpdate(s.updateConfig),
    RollbackConfig: swarmUpdate(s.rollbackConfig),
    EndpointSpec: {
      Mode: s.endpoint.mode,
      ...(s.endpoint.ports.length
        ? {
            Ports: s.endpoint.ports.map((p) => ({
              Protocol: p.protocol,
              TargetPort: p.target,
              ...(p.published ? { PublishedPort: p.published } : {}),
              PublishMode: p.publishMode,
            })),
          }
        : {}),
    },
  };
}
