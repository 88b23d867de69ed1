import { z } from "zod";
import { HealthcheckSchema, MountSchema } from "@berth/protocol";
import { InvalidReferenceError, parseReference } from "@berth/protocol/reference";
import { ServiceFileRefSchema } from "../service-files/schema.ts";
import { parseConstraint } from "./constraints.ts";

/*
 * A service's spec: what should run, how many, where, and how a change rolls out. Field meanings
 * and defaults are Docker Swarm's (moby's ServiceSpec), named in Berth's camelCase; durations are
 * milliseconds. The fleet Docker endpoint maps Swarm's shape onto this one, so nothing here may
 * mean something Swarm's field does not.
 */

const Ms = (max: number) => z.number().int().min(0).max(max);
const DAY_MS = 24 * 3600 * 1000;
const GiB = 1024 ** 3;

/**
 * Swarm's service name rule: letters and digits, with inner dashes and underscores (a stack's
 * services are `stack_service`); it becomes a hostname and a name on overlay networks.
 */
export const ServiceNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?$/, "service names are letters and digits, with inner dashes and underscores");

const ImageSchema = z
  .string()
  .min(1)
  .max(512)
  .superRefine((value, ctx) => {
    try {
      parseReference(value);
    } catch (e) {
      if (!(e instanceof InvalidReferenceError)) throw e;
      ctx.addIssue({ code: "custom", message: `invalid image reference: ${e.message}` });
    }
  });

const Labels = z.record(z.string().min(1).max(1024), z.string().max(65_536)).default({});
const EnvEntry = z
  .string()
  .max(32_768)
  .regex(/^[^=\0]+(=[^\0]*)?$/, "env entries are KEY=value");

export const RestartPolicySchema = z
  .object({
    /** any: every exit; on-failure: a non-zero exit; none: never (Swarm's names). */
    condition: z.enum(["any", "on-failure", "none"]).default("any"),
    delayMs: Ms(DAY_MS).default(5000),
    /** 0: no limit. */
    maxAttempts: z.number().int().min(0).max(1_000_000).default(0),
    /** The period attempts are counted over; 0: since the service's last update. */
    windowMs: Ms(DAY_MS).default(0),
  })
  .strict();

export const UpdateConfigSchema = z
  .object({
    /** Tasks updated at once; 0 updates all at once (Swarm's meaning). */
    parallelism: z.number().int().min(0).max(100_000).default(1),
    delayMs: Ms(DAY_MS).default(0),
    failureAction: z.enum(["pause", "continue", "rollback"]).default("pause"),
    /** How long an updated task must stay up before it counts as a success. */
    monitorMs: Ms(DAY_MS).default(5000),
    /** The share of failed tasks an update tolerates before failureAction applies. */
    maxFailureRatio: z.number().min(0).max(1).default(0),
    order: z.enum(["stop-first", "start-first"]).default("stop-first"),
  })
  .strict();

const ResourceSetSchema = z
  .object({
    nanoCpus: z
      .number()
      .int()
      .min(0)
      .max(1024 * 1e9)
      .optional(),
    memoryBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 * GiB)
      .optional(),
  })
  .strict();

export const ResourcesSchema = z
  .object({
    limits: ResourceSetSchema.extend({ pids: z.number().int().min(0).max(4_194_304).optional() })
      .strict()
      .default({}),
    /** What the scheduler sets aside on a host for each task: a host without room is filtered out. */
    reservations: ResourceSetSchema.default({}),
  })
  .strict();

export const PlacementSchema = z
  .object({
    /** `node.hostname==x`, `node.labels.zone!=b`, …: every one must hold (see constraints.ts). */
    constraints: z
      .array(
        z
          .string()
          .max(1024)
          .superRefine((value, ctx) => {
            try {
              parseConstraint(value);
            } catch (e) {
              ctx.addIssue({ code: "custom", message: (e as Error).message });
            }
          }),
      )
      .max(64)
      .default([]),
    /** Spread over the values of a host label first, before spreading over hosts (Swarm's `spread=node.labels.x`). */
    preferences: z
      .array(
        z
          .object({
            spread: z.string().regex(/^node\.labels\.[^\s=!]+$/, "spread preferences name a host label: node.labels.<key>"),
          })
          .strict(),
      )
      .max(8)
      .default([]),
    /** At most this many tasks of the service on one host; 0: no limit. */
    maxReplicasPerHost: z.number().int().min(0).max(100_000).default(0),
    /** The platforms the image serves (Swarm's Placement.Platforms, which the CLI fills from the registry): a host must be one. */
    platforms: z
      .array(z.object({ os: z.string().min(1).max(64), arch: z.string().min(1).max(64) }).strict())
      .max(64)
      .default([]),
  })
  .strict();

export const PortSchema = z
  .object({
    target: z.number().int().min(1).max(65_535),
    /** Omitted: in host mode the host picks a free port; in ingress mode the control plane does (30000-32767, see ingress-ports.ts). */
    published: z.number().int().min(1).max(65_535).optional(),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    /**
     * ingress (the default, as in Swarm): the port opens on every host of the team and balances to
     * the serving tasks, wherever they run (the routing mesh); host: it opens on each host that runs
     * a task, to that task.
     */
    publishMode: z.enum(["host", "ingress"]).default("ingress"),
  })
  .strict();

export const NetworkAttachmentSchema = z
  .object({
    /** A network by name, on each host the task lands on. */
    target: z.string().min(1).max(256),
    aliases: z.array(z.string().min(1).max(255)).max(64).default([]),
  })
  .strict();

/** What each task runs: one container, on whichever host the scheduler picks. */
export const TaskTemplateSchema = z
  .object({
    image: ImageSchema,
    /** Overrides the image's entrypoint (Swarm's ContainerSpec.Command). */
    command: z.array(z.string().max(131_072)).max(4096).optional(),
    /** Overrides the image's cmd (Swarm's ContainerSpec.Args). */
    args: z.array(z.string().max(131_072)).max(4096).optional(),
    env: z.array(EnvEntry).max(4096).default([]),
    /** Labels on each task's container. */
    labels: Labels,
    user: z.string().max(256).optional(),
    workdir: z.string().max(4096).optional(),
    hostname: z.string().max(63).optional(),
    mounts: z.array(MountSchema).max(256).default([]),
    healthcheck: HealthcheckSchema.optional(),
    stopSignal: z
      .string()
      .regex(/^(SIG)?[A-Z0-9+-]{2,12}$|^[0-9]{1,2}$/, "a signal name like SIGTERM or a number")
      .optional(),
    stopGracePeriodMs: Ms(DAY_MS).default(10_000),
    resources: ResourcesSchema.default({ limits: {}, reservations: {} }),
    restartPolicy: RestartPolicySchema.default({ condition: "any", delayMs: 5000, maxAttempts: 0, windowMs: 0 }),
    placement: PlacementSchema.default({ constraints: [], preferences: [], maxReplicasPerHost: 0, platforms: [] }),
    networks: z.array(NetworkAttachmentSchema).max(32).default([]),
    /** Secrets of the team each task gets as a file (under /run/secrets by default). */
    secrets: z.array(ServiceFileRefSchema).max(256).default([]),
    /** Configs of the team each task gets as a file (at /<name> by default). */
    configs: z.array(ServiceFileRefSchema).max(256).default([]),
    /**
     * Bumped to redeploy every task with an otherwise unchanged spec (Swarm's ForceUpdate).
     */
    forceUpdate: z.number().int().min(0).default(0),
  })
  .strict();

export const ServiceModeSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("replicated"), replicas: z.number().int().min(0).max(100_000) }).strict(),
  /** One task on every host that passes the constraints. */
  z.object({ kind: z.literal("global") }).strict(),
]);

const UPDATE_DEFAULTS = {
  parallelism: 1,
  delayMs: 0,
  failureAction: "pause",
  monitorMs: 5000,
  maxFailureRatio: 0,
  order: "stop-first",
} as const;

export const ServiceSpecSchema = z
  .object({
    name: ServiceNameSchema,
    labels: Labels,
    task: TaskTemplateSchema,
    mode: ServiceModeSchema.default({ kind: "replicated", replicas: 1 }),
    endpoint: z
      .object({
        /**
         * How the service's name answers on its overlay networks: vip, one virtual address that
         * balances over the serving tasks (Swarm's default); dnsrr, the serving tasks' addresses.
         */
        mode: z.enum(["vip", "dnsrr"]).default("vip"),
        ports: z.array(PortSchema).max(256).default([]),
      })
      .strict()
      .default({ mode: "vip", ports: [] }),
    updateConfig: UpdateConfigSchema.default(UPDATE_DEFAULTS),
    rollbackConfig: UpdateConfigSchema.default(UPDATE_DEFAULTS),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of spec.endpoint.ports.entries()) {
      if (p.published === undefined) continue;
      const key = `${p.published}/${p.protocol}`;
      if (seen.has(key))
        ctx.addIssue({ code: "custom", message: `port ${key} is published twice`, path: ["endpoint", "ports", i, "published"] });
      seen.add(key);
    }
  });

/** A spec as the user sends it (defaults optional). */
export type ServiceSpecInput = z.input<typeof ServiceSpecSchema>;
/** A spec with every default filled in: what is stored, versioned and compared. */
export type ServiceSpec = z.output<typeof ServiceSpecSchema>;

/** The zod issues of a bad spec as one message, each naming its field ("task.image: invalid image reference: …"). */
export function describeSpecIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message)).join("; ");
}
