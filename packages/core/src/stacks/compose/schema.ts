import { z } from "zod";

/*
 * The compose-spec subset Berth reads, as strict zod objects: a key outside it is refused by
 * name ("services.web: unknown key 'devices'") rather than ignored, so a file never deploys
 * with a setting silently dropped. `x-*` extension keys are taken out before validation.
 * Which keys each target (fleet or single host) honours is the targets' business; this is the
 * union, in compose's own shapes (short and long forms both).
 */

const NAME = /^[a-zA-Z0-9._-]+$/;
/** Go durations, as compose writes them: 10s, 1m30s, 500ms. */
const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
/** Byte sizes: 512m, 1g, 1048576, 1.5GB. */
const SIZE = /^\d+(\.\d+)?\s*([bkmgt]b?|[kmgt]ib)?$/i;

const duration = z.string().regex(DURATION, "expected a duration such as 10s, 1m30s or 500ms");
const size = z.union([z.number().int().nonnegative(), z.string().regex(SIZE, "expected a size such as 512m or 1g")]);
const stringOrNumber = z.union([z.string(), z.number()]);
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
/** `["A=1", "B"]` or `{A: 1, B: null}`. */
const listOrDict = z.union([z.array(z.string()), z.record(z.string(), scalar)]);
const stringOrList = z.union([z.string(), z.array(z.string())]);

const restartPolicy = z.strictObject({
  condition: z.enum(["none", "on-failure", "any"]).optional(),
  delay: duration.optional(),
  max_attempts: z.number().int().nonnegative().optional(),
  window: duration.optional(),
});

const updateConfig = z.strictObject({
  parallelism: z.number().int().nonnegative().optional(),
  delay: duration.optional(),
  failure_action: z.enum(["continue", "rollback", "pause"]).optional(),
  monitor: duration.optional(),
  max_failure_ratio: z.number().min(0).max(1).optional(),
  order: z.enum(["stop-first", "start-first"]).optional(),
});

const resources = z.strictObject({
  cpus: stringOrNumber.optional(),
  memory: size.optional(),
});

const deploy = z.strictObject({
  mode: z.enum(["replicated", "global"]).optional(),
  replicas: z.number().int().nonnegative().optional(),
  labels: listOrDict.optional(),
  endpoint_mode: z.enum(["vip", "dnsrr"]).optional(),
  placement: z
    .strictObject({
      constraints: z.array(z.string()).optional(),
      preferences: z.array(z.strictObject({ spread: z.string() })).optional(),
      max_replicas_per_node: z.number().int().nonnegative().optional(),
    })
    .optional(),
  resources: z.strictObject({ limits: resources.optional(), reservations: resources.optional() }).optional(),
  restart_policy: restartPolicy.optional(),
  update_config: updateConfig.optional(),
  rollback_config: updateConfig.optional(),
});

const healthcheck = z.strictObject({
  test: stringOrList.optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  retries: z.number().int().nonnegative().optional(),
  start_period: duration.optional(),
  start_interval: duration.optional(),
  disable: z.boolean().optional(),
});

const port = z.union([
  z.number().int(),
  z.string(),
  z.strictObject({
    target: z.number().int().min(1).max(65535),
    published: stringOrNumber.optional(),
    protocol: z.enum(["tcp", "udp"]).optional(),
    mode: z.enum(["ingress", "host"]).optional(),
    host_ip: z.string().optional(),
    name: z.string().optional(),
  }),
]);

const serviceVolume = z.union([
  z.string(),
  z.strictObject({
    type: z.enum(["volume", "bind", "tmpfs"]),
    source: z.string().optional(),
    target: z.string(),
    read_only: z.boolean().optional(),
    volume: z.strictObject({ nocopy: z.boolean().optional() }).optional(),
    bind: z.strictObject({ propagation: z.string().optional(), create_host_path: z.boolean().optional() }).optional(),
    tmpfs: z.strictObject({ size: size.optional(), mode: z.number().int().optional() }).optional(),
  }),
]);

const fileReference = z.union([
  z.string(),
  z.strictObject({
    source: z.string(),
    target: z.string().optional(),
    uid: z.string().optional(),
    gid: z.string().optional(),
    mode: z.number().int().optional(),
  }),
]);

const dependsOn = z.union([
  z.array(z.string()),
  z.record(
    z.string(),
    z.strictObject({
      condition: z.enum(["service_started", "service_healthy", "service_completed_successfully"]).optional(),
      required: z.boolean().optional(),
      restart: z.boolean().optional(),
    }),
  ),
]);

const build = z.union([
  z.string(),
  z.strictObject({
    context: z.string().optional(),
    dockerfile: z.string().optional(),
    args: listOrDict.optional(),
    target: z.string().optional(),
    labels: listOrDict.optional(),
    network: z.string().optional(),
    no_cache: z.boolean().optional(),
    pull: z.boolean().optional(),
  }),
]);

const serviceNetworks = z.union([
  z.array(z.string()),
  z.record(
    z.string(),
    z.union([
      z.null(),
      z.strictObject({
        aliases: z.array(z.string()).optional(),
        ipv4_address: z.string().optional(),
        ipv6_address: z.string().optional(),
      }),
    ]),
  ),
]);

export const ComposeServiceSchema = z.strictObject({
  image: z.string().optional(),
  build: build.optional(),
  command: stringOrList.optional().nullable(),
  entrypoint: stringOrList.optional().nullable(),
  environment: listOrDict.optional(),
  env_file: z
    .union([z.string(), z.array(z.union([z.string(), z.strictObject({ path: z.string(), required: z.boolean().optional() })]))])
    .optional(),
  labels: listOrDict.optional(),
  ports: z.array(port).optional(),
  expose: z.array(stringOrNumber).optional(),
  volumes: z.array(serviceVolume).optional(),
  tmpfs: stringOrList.optional(),
  networks: serviceNetworks.optional(),
  network_mode: z.string().optional(),
  depends_on: dependsOn.optional(),
  healthcheck: healthcheck.optional(),
  restart: z
    .string()
    .regex(/^(no|always|unless-stopped|on-failure(:\d+)?)$/, "expected no, always, unless-stopped or on-failure[:N]")
    .optional(),
  deploy: deploy.optional(),
  secrets: z.array(fileReference).optional(),
  configs: z.array(fileReference).optional(),
  user: z.string().optional(),
  working_dir: z.string().optional(),
  hostname: z.string().optional(),
  container_name: z.string().regex(NAME, "expected letters, digits, '.', '_' or '-'").optional(),
  stop_signal: z.string().optional(),
  stop_grace_period: duration.optional(),
  profiles: z.array(z.string()).optional(),
  /** os/arch[/variant]: on the fleet, the platform a host must have (Swarm's placement platforms). */
  platform: z
    .string()
    .regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, "a platform is os/arch[/variant], as linux/amd64")
    .optional(),
  init: z.boolean().optional(),
  read_only: z.boolean().optional(),
  tty: z.boolean().optional(),
  stdin_open: z.boolean().optional(),
  cap_add: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  extra_hosts: listOrDict.optional(),
  dns: stringOrList.optional(),
  dns_search: stringOrList.optional(),
  logging: z
    .strictObject({ driver: z.string().optional(), options: z.record(z.string(), z.union([z.string(), z.number()])).optional() })
    .optional(),
  pull_policy: z.enum(["always", "never", "missing", "if_not_present", "build"]).optional(),
});

const external = z.union([z.boolean(), z.strictObject({ name: z.string() })]).optional();

const ComposeNetworkSchema = z.strictObject({
  driver: z.string().optional(),
  driver_opts: z.record(z.string(), stringOrNumber).optional(),
  attachable: z.boolean().optional(),
  internal: z.boolean().optional(),
  external,
  name: z.string().optional(),
  labels: listOrDict.optional(),
  ipam: z
    .strictObject({
      driver: z.string().optional(),
      config: z
        .array(z.strictObject({ subnet: z.string().optional(), gateway: z.string().optional(), ip_range: z.string().optional() }))
        .optional(),
    })
    .optional(),
  enable_ipv6: z.boolean().optional(),
});

const ComposeVolumeSchema = z.strictObject({
  driver: z.string().optional(),
  driver_opts: z.record(z.string(), stringOrNumber).optional(),
  external,
  name: z.string().optional(),
  labels: listOrDict.optional(),
});

const ComposeFileObjectSchema = z.strictObject({
  file: z.string().optional(),
  environment: z.string().optional(),
  content: z.string().optional(),
  external,
  name: z.string().optional(),
  labels: listOrDict.optional(),
});

const named = <T extends z.ZodType>(schema: T) =>
  z.record(z.string().regex(NAME, "names are letters, digits, '.', '_' or '-'"), z.union([schema, z.null()]));

export const ComposeFileSchema = z.strictObject({
  /** Obsolete in the compose-spec: read and ignored, as compose does. */
  version: z.string().optional(),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, "a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit")
    .optional(),
  services: z.record(z.string().regex(NAME, "service names are letters, digits, '.', '_' or '-'"), ComposeServiceSchema),
  networks: named(ComposeNetworkSchema).optional(),
  volumes: named(ComposeVolumeSchema).optional(),
  secrets: named(ComposeFileObjectSchema).optional(),
  configs: named(ComposeFileObjectSchema).optional(),
});

export type ComposeFile = z.infer<typeof ComposeFileSchema>;
export type ComposeService = z.infer<typeof ComposeServiceSchema>;
