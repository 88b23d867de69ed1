import { z } from "zod";

/*
 * The shapes agents answer commands with (the table is CommandReplies in commands.ts) and send
 * on streams. Docker-shaped documents are loose objects: the fields the control plane, the CLI
 * and the dashboard read are typed (required when the agent always sends them) and everything
 * else passes through untouched, so a field added on the agent is never dropped on the way.
 * Answers of Berth's own making are plain objects with every field listed.
 */

const Labels = z.record(z.string(), z.string());
const Count = z.number().int().nonnegative();
const Bytes = z.number().nonnegative();

/** Most state changes answer just this. */
export const OkReplySchema = z.object({ ok: z.literal(true) });

export const PingReplySchema = z.object({ pong: z.literal(true), at: Count, agentVersion: z.string().min(1).max(64) });

// ------------------------------------------------------------------ images

/** Docker's /images/json entry. */
export const ImageSummarySchema = z.looseObject({
  Id: z.string(),
  ParentId: z.string(),
  RepoTags: z.array(z.string()),
  RepoDigests: z.array(z.string()),
  /** Unix seconds. */
  Created: z.number().int(),
  Size: Bytes,
  SharedSize: z.number().int(),
  Labels,
  Containers: z.number().int(),
});
export type ImageListItem = z.output<typeof ImageSummarySchema>;

/** Docker's /images/{name}/json. */
export const ImageInspectSchema = z.looseObject({
  Id: z.string(),
  RepoTags: z.array(z.string()),
  RepoDigests: z.array(z.string()),
  /** RFC 3339. */
  Created: z.string(),
  Size: Bytes,
  Architecture: z.string(),
  Os: z.string(),
});
export type ImageInspect = z.output<typeof ImageInspectSchema>;

/** One row of `docker history`, newest first. */
export const ImageHistoryEntrySchema = z.looseObject({
  Id: z.string(),
  Created: z.number().int(),
  CreatedBy: z.string(),
  Tags: z.array(z.string()).nullable(),
  Size: Bytes,
  Comment: z.string(),
});

/** What a pull leaves on the host. */
/** Docker's DistributionInspect: what a reference resolves to in its registry, without pulling it. */
export const DistributionInspectSchema = z.object({
  Descriptor: z.object({ mediaType: z.string().max(256), digest: z.string().max(256), size: z.number().int().nonnegative() }),
  Platforms: z
    .array(
      z.looseObject({
        architecture: z.string().max(64),
        os: z.string().max(64),
      }),
    )
    .max(256),
});

export const PulledImageSchema = z.object({ id: z.string(), repoTags: z.array(z.string()), repoDigests: z.array(z.string()), size: Bytes });
export type PulledImage = z.output<typeof PulledImageSchema>;

export const PushedImageSchema = z.object({ digest: z.string(), size: Bytes, tag: z.string() });

/** `docker rmi` and prune: each name untagged and each image or layer deleted. */
export const ImageDeleteItemSchema = z.union([z.object({ Untagged: z.string() }), z.object({ Deleted: z.string() })]);
export const ImagePruneReplySchema = z.object({ ImagesDeleted: z.array(ImageDeleteItemSchema), SpaceReclaimed: Bytes });

/** Docker-like per-layer progress of a pull: `id` is the short layer digest. */
export const PullProgressSchema = z.union([
  z.object({
    id: z.string(),
    status: z.enum(["Waiting", "Already exists", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"]),
  }),
  z.object({ id: z.string(), status: z.literal("Downloading"), current: Bytes, total: Bytes }),
]);
export type PullProgress = z.output<typeof PullProgressSchema>;

export const PushProgressSchema = z.object({
  id: z.string(),
  status: z.enum(["Preparing", "Pushing", "Pushed", "Layer already exists", "Mounted"]),
});
export type PushProgress = z.output<typeof PushProgressSchema>;

// ------------------------------------------------------------------ containers

export const CONTAINER_STATES = ["created", "running", "paused", "restarting", "removing", "exited", "dead"] as const;
export const ContainerStateSchema = z.enum(CONTAINER_STATES);

/** Docker's /containers/json entry. */
export const ContainerSummarySchema = z.looseObject({
  Id: z.string(),
  Names: z.array(z.string()),
  Image: z.string(),
  ImageID: z.string(),
  Command: z.string(),
  /** Unix seconds. */
  Created: z.number().int(),
  State: ContainerStateSchema,
  /** "Up 3 minutes", "Exited (0) 2 hours ago"… */
  Status: z.string(),
  Labels,
});
export type ContainerListItem = z.output<typeof ContainerSummarySchema>;

/** Docker's /containers/{id}/json; the fields the control plane and the dashboard read are typed. */
export const ContainerInspectSchema = z.looseObject({
  Id: z.string(),
  /** With Docker's leading slash. */
  Name: z.string(),
  /** RFC 3339. */
  Created: z.string(),
  /** The image's ID. */
  Image: z.string(),
  RestartCount: Count,
  State: z.looseObject({
    Status: ContainerStateSchema,
    Running: z.boolean(),
    Paused: z.boolean(),
    Restarting: z.boolean(),
    OOMKilled: z.boolean(),
    Dead: z.boolean(),
    Pid: Count,
    ExitCode: z.number().int(),
    Error: z.string(),
    StartedAt: z.string(),
    FinishedAt: z.string(),
    Health: z.looseObject({ Status: z.enum(["starting", "healthy", "unhealthy"]), FailingStreak: Count }).optional(),
  }),
  Config: z.looseObject({ Image: z.string(), Labels }),
});
export type ContainerInspect = z.output<typeof ContainerInspectSchema>;

export const ContainerCreatedSchema = z.object({ Id: z.string(), Warnings: z.array(z.string()) });

/** One line of a container's log, as `containers.logs` answers (oldest first). */
export const ContainerLogLineSchema = z.object({
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: z.string(),
  stream: z.enum(["stdout", "stderr"]),
  /** The line with its trailing newline, cut as in a stream when very long. */
  line: z.string(),
  /** Where the line is in the log; a logs stream resumes after it. */
  cursor: z.string(),
});
export type ContainerLogLine = z.output<typeof ContainerLogLineSchema>;

export const ContainerTopSchema = z.object({ Titles: z.array(z.string()), Processes: z.array(z.array(z.string())) });

const CpuStatsSchema = z.looseObject({
  cpu_usage: z.looseObject({
    total_usage: Bytes,
    percpu_usage: z.array(Bytes).optional(),
    usage_in_kernelmode: Bytes,
    usage_in_usermode: Bytes,
  }),
  system_cpu_usage: Bytes,
  online_cpus: Count,
  throttling_data: z.looseObject({ periods: Count, throttled_periods: Count, throttled_time: Bytes }),
});

/** One sample of Docker's /containers/{id}/stats (the `stats` command and each frame of a stats stream). */
export const ContainerStatsSchema = z.looseObject({
  id: z.string(),
  /** With Docker's leading slash. */
  name: z.string(),
  read: z.string(),
  preread: z.string(),
  num_procs: Count,
  pids_stats: z.looseObject({ current: Count.optional(), limit: Count.optional() }),
  blkio_stats: z.looseObject({
    io_service_bytes_recursive: z.array(z.looseObject({ major: Count, minor: Count, op: z.string(), value: Bytes })).nullable(),
  }),
  cpu_stats: CpuStatsSchema,
  /** The previous sample's cpu_stats; empty in the first sample. */
  precpu_stats: z.union([CpuStatsSchema, z.strictObject({})]),
  memory_stats: z.looseObject({
    usage: Bytes.optional(),
    max_usage: Bytes.optional(),
    limit: Bytes.optional(),
    stats: z.record(z.string(), z.number()).optional(),
  }),
  networks: z
    .record(
      z.string(),
      z.looseObject({
        rx_bytes: Bytes,
        rx_packets: Count,
        rx_errors: Count,
        rx_dropped: Count,
        tx_bytes: Bytes,
        tx_packets: Count,
        tx_errors: Count,
        tx_dropped: Count,
      }),
    )
    .optional(),
});
export type ContainerStatsSample = z.output<typeof ContainerStatsSchema>;

// ------------------------------------------------------------------ volumes

const VolumeShape = {
  Name: z.string(),
  Driver: z.string(),
  Mountpoint: z.string(),
  /** RFC 3339. */
  CreatedAt: z.string(),
  Labels,
  Scope: z.string(),
};
/** Docker's volume document (create answers this). */
export const VolumeSchema = z.looseObject(VolumeShape);
/** A volume with the IDs of the containers that mount it (list and inspect answer this). */
export const VolumeWithUsersSchema = z.looseObject({ ...VolumeShape, UsedBy: z.array(z.string()) });
export type VolumeItem = z.output<typeof VolumeWithUsersSchema>;
export const VolumePruneReplySchema = z.object({ VolumesDeleted: z.array(z.string()), SpaceReclaimed: Bytes });

// ------------------------------------------------------------------ networks

/** Docker's network inspect document (also each entry of the list). */
export const NetworkSchema = z.looseObject({
  Id: z.string(),
  Name: z.string(),
  Driver: z.string(),
  /** RFC 3339. */
  Created: z.string(),
  Scope: z.string(),
  Internal: z.boolean(),
  Attachable: z.boolean(),
  EnableIPv6: z.boolean().optional(),
  /** One entry per pool (IPv4, and IPv6 on an IPv6 network); an entry given without a gateway shows none. */
  IPAM: z.looseObject({
    Config: z.array(
      z.looseObject({
        Subnet: z.string(),
        Gateway: z.string().optional(),
        IPRange: z.string().optional(),
        AuxiliaryAddresses: z.record(z.string(), z.string()).optional(),
      }),
    ),
  }),
  /** By container ID. */
  Containers: z.record(
    z.string(),
    z.looseObject({ Name: z.string(), EndpointID: z.string(), MacAddress: z.string(), IPv4Address: z.string(), IPv6Address: z.string() }),
  ),
  Options: z.record(z.string(), z.string()),
  Labels,
});
export type NetworkItem = z.output<typeof NetworkSchema>;
export const NetworkCreatedSchema = z.object({ Id: z.string(), Warning: z.string() });
export const NetworkPruneReplySchema = z.object({ NetworksDeleted: z.array(z.string()) });

// ------------------------------------------------------------------ events

/** One Docker-style event of a host, as an events stream carries it. */
export const HostEventSchema = z.looseObject({
  /** The agent's sequence number: events of one host are in this order. */
  seq: Count,
  Type: z.enum(["container", "image", "network", "volume"]),
  Action: z.string(),
  Actor: z.looseObject({ ID: z.string(), Attributes: z.record(z.string(), z.string()) }),
  scope: z.literal("local"),
  /** Unix seconds, and nanoseconds (past 2^53: not an exact integer in JSON). */
  time: Count,
  timeNano: z.number().nonnegative(),
});
export type HostEvent = z.output<typeof HostEventSchema>;
