import { z } from "zod";
import { ContainerConfigSchema, ContainerUpdateSchema } from "./containers.ts";

/**
 * Commands the control plane sends to an agent (CommandFrame.command + args), with their
 * argument schemas. The agent validates args with these before acting.
 */

const Name = z.string().min(1).max(512);

/** Registry settings for one pull or push, resolved by the control plane from its registries. */
export const RegistryAccessSchema = z
  .object({
    insecure: z.boolean().optional(),
    username: z.string().max(255).optional(),
    password: z.string().max(4096).optional(),
  })
  .nullable()
  .default(null);
export type RegistryAccess = z.infer<typeof RegistryAccessSchema>;

export const CommandArgs = {
  ping: z.object({}).default({}),
  "images.list": z.object({ all: z.boolean().default(false), dangling: z.boolean().optional() }).default({ all: false }),
  "images.inspect": z.object({ name: Name }),
  "images.history": z.object({ name: Name }),
  "images.pull": z.object({
    reference: Name,
    platform: z.string().regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, "platform is os/arch[/variant]").optional(),
    registry: RegistryAccessSchema,
  }),
  "images.push": z.object({ name: Name, registry: RegistryAccessSchema }),
  "images.tag": z.object({ source: Name, target: Name }),
  "images.remove": z.object({ name: Name, force: z.boolean().default(false) }),
  "images.prune": z.object({ all: z.boolean().default(false) }).default({ all: false }),

  "containers.list": z.object({ all: z.boolean().default(false) }).default({ all: false }),
  "containers.create": z.object({
    name: z.string().max(256).optional(),
    config: ContainerConfigSchema,
    /** Set when the team's container policy binds the caller: the host paths bind mounts must stay within, links resolved. */
    bindPrefixes: z.array(z.string().min(1).max(4096)).max(256).optional(),
  }),
  "containers.start": z.object({ id: Name }),
  "containers.stop": z.object({ id: Name, timeout: z.number().int().min(-1).max(86_400).optional(), signal: z.string().max(16).optional() }),
  "containers.restart": z.object({ id: Name, timeout: z.number().int().min(-1).max(86_400).optional() }),
  "containers.kill": z.object({ id: Name, signal: z.string().max(16).default("SIGKILL") }),
  "containers.pause": z.object({ id: Name }),
  "containers.unpause": z.object({ id: Name }),
  "containers.remove": z.object({ id: Name, force: z.boolean().default(false) }),
  "containers.rename": z.object({ id: Name, name: z.string().min(1).max(256) }),
  "containers.update": z.object({ id: Name, hostConfig: ContainerUpdateSchema }),
  "containers.inspect": z.object({ id: Name }),
  "containers.logs": z.object({
    id: Name,
    tail: z.number().int().min(0).max(10_000).default(500),
    since: z.number().min(0).optional(),
    until: z.number().min(0).optional(),
    stdout: z.boolean().default(true),
    stderr: z.boolean().default(true),
  }),
  "containers.top": z.object({ id: Name }),
  "containers.stats": z.object({ id: Name }),

  "volumes.list": z.object({ dangling: z.boolean().optional(), label: z.array(z.string().max(1024)).max(32).optional() }).default({}),
  "volumes.create": z.object({ name: z.string().max(255).optional(), labels: z.record(z.string().max(1024), z.string().max(65_536)).optional() }),
  "volumes.inspect": z.object({ name: Name }),
  "volumes.remove": z.object({ name: Name, force: z.boolean().default(false) }),
  "volumes.prune": z.object({ all: z.boolean().default(false) }).default({ all: false }),

  "networks.list": z.object({}).default({}),
  "networks.inspect": z.object({ id: Name }),
  "networks.create": z.object({
    name: z.string().min(1).max(128),
    internal: z.boolean().default(false),
    /** false: containers on it cannot talk to each other. */
    icc: z.boolean().default(true),
    subnet: z.string().max(64).optional(),
    gateway: z.string().max(64).optional(),
    ipRange: z.string().max(64).optional(),
    labels: z.record(z.string().max(1024), z.string().max(65_536)).optional(),
  }),
  "networks.remove": z.object({ id: Name }),
  "networks.prune": z.object({}).default({}),
  "networks.connect": z.object({ id: Name, container: Name, ip: z.string().max(64).optional(), aliases: z.array(z.string().max(256)).max(64).optional() }),
  "networks.disconnect": z.object({ id: Name, container: Name }),
} as const;

export type CommandName = keyof typeof CommandArgs;
export type CommandArgsOf<C extends CommandName> = z.input<(typeof CommandArgs)[C]>;

/** Error codes an agent puts in a failed reply; the control plane maps them to its own. */
export const AGENT_ERROR_CODES = ["NOT_FOUND", "CONFLICT", "NOT_MODIFIED", "INVALID", "FORBIDDEN", "REGISTRY", "UNKNOWN_COMMAND", "FAILED"] as const;
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];
