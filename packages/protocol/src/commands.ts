import { z } from "zod";
import { checkEntry, type Checked, type Sendable } from "./checked.ts";
import { ContainerConfigSchema, ContainerUpdateSchema } from "./containers.ts";
import {
  ContainerCreatedSchema,
  ContainerInspectSchema,
  ContainerLogLineSchema,
  ContainerStatsSchema,
  ContainerSummarySchema,
  DistributionInspectSchema,
  ContainerTopSchema,
  ImageDeleteItemSchema,
  ImageHistoryEntrySchema,
  ImageInspectSchema,
  ImagePruneReplySchema,
  ImageSummarySchema,
  NetworkCreatedSchema,
  NetworkPruneReplySchema,
  NetworkSchema,
  OkReplySchema,
  PingReplySchema,
  PulledImageSchema,
  PullProgressSchema,
  PushedImageSchema,
  PushProgressSchema,
  VolumePruneReplySchema,
  VolumeSchema,
  VolumeWithUsersSchema,
} from "./replies.ts";
import { OverlaySyncArgsSchema } from "./overlay.ts";
import { TaskFilesSchema } from "./task-files.ts";

/**
 * Commands the control plane sends to an agent (CommandFrame.command + args): their argument
 * schemas, the schemas of their replies and of the progress some of them report. The agent
 * validates args with these before acting; the control plane validates replies and progress
 * before anything else sees them. Both sides type their end from the same tables.
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
  /** What the registry holds for a reference (its digest, the platforms it serves), without pulling it. */
  "images.distribution": z.object({ reference: Name, registry: RegistryAccessSchema }),
  "images.pull": z.object({
    reference: Name,
    platform: z
      .string()
      .regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, "platform is os/arch[/variant]")
      .optional(),
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
    /** A service task's secrets and configs, kept in memory on the host (see task-files.ts). */
    files: TaskFilesSchema.optional(),
  }),
  "containers.start": z.object({ id: Name }),
  /** The container's TTY size (Docker's resize: h rows, w columns). */
  "containers.resize": z.object({ id: Name, h: z.number().int().min(0).max(10_000), w: z.number().int().min(0).max(10_000) }),
  "containers.stop": z.object({
    id: Name,
    timeout: z.number().int().min(-1).max(86_400).optional(),
    signal: z.string().max(16).optional(),
  }),
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
  "volumes.create": z.object({
    name: z.string().max(255).optional(),
    labels: z.record(z.string().max(1024), z.string().max(65_536)).optional(),
  }),
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
  "networks.connect": z.object({
    id: Name,
    container: Name,
    ip: z.string().max(64).optional(),
    aliases: z.array(z.string().max(256)).max(64).optional(),
  }),
  "networks.disconnect": z.object({ id: Name, container: Name }),

  "overlay.sync": OverlaySyncArgsSchema,
} as const;

export type CommandName = keyof typeof CommandArgs;
/** What a caller passes for a command's arguments (defaults may be left out). */
export type CommandInput<C extends CommandName> = z.input<(typeof CommandArgs)[C]>;

/** Each command's reply (ReplyFrame.result when ok). */
export const CommandReplies = {
  ping: PingReplySchema,
  "images.list": z.array(ImageSummarySchema),
  "images.inspect": ImageInspectSchema,
  "images.history": z.array(ImageHistoryEntrySchema),
  "images.distribution": DistributionInspectSchema,
  "images.pull": PulledImageSchema,
  "images.push": PushedImageSchema,
  "images.tag": OkReplySchema,
  "images.remove": z.array(ImageDeleteItemSchema),
  "images.prune": ImagePruneReplySchema,

  "containers.list": z.array(ContainerSummarySchema),
  "containers.create": ContainerCreatedSchema,
  "containers.start": OkReplySchema,
  "containers.resize": OkReplySchema,
  "containers.stop": OkReplySchema,
  "containers.restart": OkReplySchema,
  "containers.kill": OkReplySchema,
  "containers.pause": OkReplySchema,
  "containers.unpause": OkReplySchema,
  "containers.remove": OkReplySchema,
  "containers.rename": OkReplySchema,
  "containers.update": z.object({ Warnings: z.array(z.string()) }),
  "containers.inspect": ContainerInspectSchema,
  "containers.logs": z.array(ContainerLogLineSchema),
  "containers.top": ContainerTopSchema,
  "containers.stats": ContainerStatsSchema,

  "volumes.list": z.array(VolumeWithUsersSchema),
  "volumes.create": VolumeSchema,
  "volumes.inspect": VolumeWithUsersSchema,
  "volumes.remove": OkReplySchema,
  "volumes.prune": VolumePruneReplySchema,

  "networks.list": z.array(NetworkSchema),
  "networks.inspect": NetworkSchema,
  "networks.create": NetworkCreatedSchema,
  "networks.remove": OkReplySchema,
  "networks.prune": NetworkPruneReplySchema,
  "networks.connect": OkReplySchema,
  "networks.disconnect": OkReplySchema,

  "overlay.sync": OkReplySchema,
} as const satisfies Record<CommandName, z.ZodType>;

/** A command's reply as the control plane hands it on, once checked. */
export type CommandReply<C extends CommandName> = z.output<(typeof CommandReplies)[C]>;
/** What an agent's handler for the command returns. */
export type CommandReplyInput<C extends CommandName> = Sendable<z.input<(typeof CommandReplies)[C]>>;

/** A command that reports none: any progress frame for it is invalid. */
const NoProgress = z.never();

/**
 * Items of the progress a command reports while it runs (ProgressFrame.data), one per frame.
 * Only pulls and pushes report any.
 */
export const CommandProgressItems = {
  ping: NoProgress,
  "images.list": NoProgress,
  "images.inspect": NoProgress,
  "images.history": NoProgress,
  "images.distribution": NoProgress,
  "images.pull": PullProgressSchema,
  "images.push": PushProgressSchema,
  "images.tag": NoProgress,
  "images.remove": NoProgress,
  "images.prune": NoProgress,

  "containers.list": NoProgress,
  "containers.create": NoProgress,
  "containers.start": NoProgress,
  "containers.resize": NoProgress,
  "containers.stop": NoProgress,
  "containers.restart": NoProgress,
  "containers.kill": NoProgress,
  "containers.pause": NoProgress,
  "containers.unpause": NoProgress,
  "containers.remove": NoProgress,
  "containers.rename": NoProgress,
  "containers.update": NoProgress,
  "containers.inspect": NoProgress,
  "containers.logs": NoProgress,
  "containers.top": NoProgress,
  "containers.stats": NoProgress,

  "volumes.list": NoProgress,
  "volumes.create": NoProgress,
  "volumes.inspect": NoProgress,
  "volumes.remove": NoProgress,
  "volumes.prune": NoProgress,

  "networks.list": NoProgress,
  "networks.inspect": NoProgress,
  "networks.create": NoProgress,
  "networks.remove": NoProgress,
  "networks.prune": NoProgress,
  "networks.connect": NoProgress,
  "networks.disconnect": NoProgress,

  "overlay.sync": NoProgress,
} as const satisfies Record<CommandName, z.ZodType>;

/** One progress item of a command (never for commands that report none). */
export type CommandProgress<C extends CommandName> = z.output<(typeof CommandProgressItems)[C]>;
export type CommandProgressInput<C extends CommandName> = Sendable<z.input<(typeof CommandProgressItems)[C]>>;

/** Checks an agent's reply to `command`. Never throws. */
export function parseCommandReply<C extends CommandName>(command: C, result: unknown): Checked<CommandReply<C>> {
  return checkEntry(CommandReplies, command, result);
}

/** Checks one progress item an agent sent for `command`. Never throws. */
export function parseCommandProgress<C extends CommandName>(command: C, data: unknown): Checked<CommandProgress<C>> {
  return checkEntry(CommandProgressItems, command, data);
}

/** Error codes an agent puts in a failed reply; the control plane maps them to its own. */
export const AGENT_ERROR_CODES = [
  "NOT_FOUND",
  "CONFLICT",
  "NOT_MODIFIED",
  "INVALID",
  "FORBIDDEN",
  "REGISTRY",
  /** A Docker feature the agent has no implementation of in this configuration (a log driver that keeps nothing to read). */
  "NOT_IMPLEMENTED",
  "UNKNOWN_COMMAND",
  "FAILED",
] as const;
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];
