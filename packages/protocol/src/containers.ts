import { z } from "zod";
import { MountSchema } from "./mounts.ts";
import { EndpointConfigSchema } from "./networks.ts";

/*
 * A container's create configuration in the Docker Engine API's shape (Config + HostConfig), so the
 * same schema validates the control plane's run dialog, tRPC/REST automation and, later, the agent's
 * Docker API. Limits are bounded so absurd values are refused here rather than by the kernel.
 */

const EnvEntry = z
  .string()
  .max(32_768)
  .regex(/^[^=\0]+(=[^\0]*)?$/, "env entries are KEY=value");
const Signal = z.string().regex(/^(SIG)?[A-Z0-9+-]{2,12}$|^[0-9]{1,2}$/, "a signal name like SIGTERM or a number");
const Int = (min: number, max: number) => z.number().int().min(min).max(max);
const GiB = 1024 ** 3;
const Duration = Int(0, 24 * 3600 * 1e9); // nanoseconds, as Docker's API

export const HealthcheckSchema = z.object({
  Test: z.array(z.string().max(32_768)).max(256).optional(),
  Interval: Duration.optional(),
  Timeout: Duration.optional(),
  Retries: Int(0, 1000).optional(),
  StartPeriod: Duration.optional(),
  StartInterval: Duration.optional(),
});

export const RestartPolicySchema = z.object({
  Name: z.enum(["", "no", "always", "unless-stopped", "on-failure"]).default("no"),
  MaximumRetryCount: Int(0, 1_000_000).default(0),
});

export const UlimitSchema = z.object({ Name: z.string().regex(/^[a-z]+$/), Soft: Int(-1, 2 ** 53 - 1), Hard: Int(-1, 2 ** 53 - 1) });

/**
 * Docker's log options; json-file, local and k8s-file map onto the agent's own log files, none
 * keeps nothing (see the agent's logs/rotation.ts, which refuses other drivers with Docker's message).
 */
export const LogConfigSchema = z.object({
  Type: z.string().max(64).default(""),
  Config: z.record(z.string().max(64), z.string().max(256)).nullable().optional(),
});

export const HostConfigSchema = z.object({
  Memory: Int(0, 1024 * GiB).optional(),
  MemorySwap: Int(-1, 1024 * GiB).optional(),
  MemoryReservation: Int(0, 1024 * GiB).optional(),
  NanoCpus: Int(0, 1024 * 1e9).optional(),
  CpuShares: Int(0, 262_144).optional(),
  CpuQuota: Int(0, 1e12).optional(),
  CpuPeriod: Int(0, 1_000_000).optional(),
  /** `--cpu-rt-period` / `--cpu-rt-runtime` (microseconds): the real-time scheduler's budget, cgroup v1 with RT group scheduling. */
  CpuRealtimePeriod: Int(0, 1_000_000).optional(),
  CpuRealtimeRuntime: Int(0, 1_000_000).optional(),
  CpusetCpus: z
    .string()
    .regex(/^[0-9,-]*$/)
    .max(256)
    .optional(),
  CpusetMems: z
    .string()
    .regex(/^[0-9,-]*$/)
    .max(256)
    .optional(),
  PidsLimit: Int(-1, 4_194_304).nullable().optional(),
  CapAdd: z.array(z.string().max(64)).max(64).nullable().optional(),
  CapDrop: z.array(z.string().max(64)).max(64).nullable().optional(),
  Privileged: z.boolean().optional(),
  ReadonlyRootfs: z.boolean().optional(),
  SecurityOpt: z.array(z.string().max(4096)).max(32).nullable().optional(),
  Ulimits: z.array(UlimitSchema).max(32).nullable().optional(),
  ShmSize: Int(0, 64 * GiB).optional(),
  Sysctls: z.record(z.string().max(256), z.string().max(4096)).nullable().optional(),
  Init: z.boolean().nullable().optional(),
  AutoRemove: z.boolean().optional(),
  RestartPolicy: RestartPolicySchema.optional(),
  NetworkMode: z.string().max(256).optional(),
  OomKillDisable: z.boolean().optional(),
  OomScoreAdj: Int(-1000, 1000).optional(),
  LogConfig: LogConfigSchema.optional(),
  /** `-v src:dst[:mode]` strings, parsed by the agent with Docker's rules and messages. */
  Binds: z.array(z.string().max(8192)).max(256).nullable().optional(),
  Mounts: z.array(MountSchema).max(256).nullable().optional(),
  /** `-p`: container port ("80/tcp") → host addresses and ports ("" or "0" for a random one). */
  PortBindings: z
    .record(
      z.string().regex(/^\d{1,5}(\/(tcp|udp))?$/, "a container port is PORT or PORT/tcp or PORT/udp"),
      z
        .array(
          z.object({
            HostIp: z.string().max(64).optional(),
            HostPort: z
              .string()
              .regex(/^\d{0,5}$/, "a host port is a number")
              .optional(),
          }),
        )
        .max(16)
        .nullable(),
    )
    .nullable()
    .optional(),
  /** `-P`: every exposed port to a random host port. */
  PublishAllPorts: z.boolean().optional(),
  /** `--tmpfs /path:options`. */
  Tmpfs: z.record(z.string().max(4096), z.string().max(1024)).nullable().optional(),
  /** `--volumes-from ctr[:ro|rw]`: another container's mounts, copied at create. */
  VolumesFrom: z.array(z.string().max(512)).max(64).nullable().optional(),
  /** `--link ctr[:alias]`: the other container by name in /etc/hosts (and its env on the default bridge). */
  Links: z.array(z.string().max(512)).max(64).nullable().optional(),
  /** `--group-add`: supplementary groups, by name (from the image's /etc/group) or number. */
  GroupAdd: z.array(z.string().max(256)).max(64).nullable().optional(),
  /** `--memory-swappiness`: 0 to 100, -1 for the kernel's default. */
  MemorySwappiness: Int(-1, 2 ** 31)
    .nullable()
    .optional(),
  /** `--device /dev/x[:/dev/y[:rwm]]`. */
  Devices: z
    .array(
      z.object({
        PathOnHost: z.string().min(1).max(4096),
        PathInContainer: z.string().max(4096).optional(),
        CgroupPermissions: z
          .string()
          .regex(/^[rwm]{0,3}$/, "device permissions are a combination of r, w and m")
          .optional(),
      }),
    )
    .max(256)
    .nullable()
    .optional(),
  /** `--device-cgroup-rule 'c 1:3 mr'`. */
  DeviceCgroupRules: z.array(z.string().max(64)).max(256).nullable().optional(),
  /** The OCI runtime: runc, or another one the agent found (crun). */
  Runtime: z.string().max(64).optional(),
  VolumeDriver: z.string().max(256).optional(),
  /** "", "host" or "container:<id>" (pid and uts); ipc also "private", "shareable" and "none". */
  PidMode: z.string().max(512).optional(),
  IpcMode: z.string().max(512).optional(),
  UTSMode: z.string().max(512).optional(),
  CgroupnsMode: z.enum(["", "private", "host"]).optional(),
  Isolation: z.string().max(64).optional(),
  Dns: z.array(z.string().max(64)).max(16).nullable().optional(),
  DnsSearch: z.array(z.string().max(256)).max(16).nullable().optional(),
  DnsOptions: z.array(z.string().max(256)).max(16).nullable().optional(),
  /** `--add-host name:ip` (or `name=ip`); `host-gateway` is the host's address on the container's network. */
  ExtraHosts: z.array(z.string().max(512)).max(256).nullable().optional(),
});

/**
 * What `update` may change on an existing container, as `docker update`: resource limits and the
 * restart policy. Anything else (privileges, mounts, namespaces) is refused by name, so an update
 * cannot widen a container past what its create was allowed.
 */
export const ContainerUpdateSchema = HostConfigSchema.pick({
  Memory: true,
  MemorySwap: true,
  MemoryReservation: true,
  NanoCpus: true,
  CpuShares: true,
  CpuQuota: true,
  CpuPeriod: true,
  CpusetCpus: true,
  CpusetMems: true,
  PidsLimit: true,
  RestartPolicy: true,
}).strict();

export const ContainerConfigSchema = z.object({
  Image: z.string().min(1).max(512),
  Cmd: z.array(z.string().max(131_072)).max(4096).nullable().optional(),
  Entrypoint: z.array(z.string().max(131_072)).max(4096).nullable().optional(),
  Env: z.array(EnvEntry).max(4096).nullable().optional(),
  WorkingDir: z.string().max(4096).optional(),
  User: z.string().max(256).optional(),
  Hostname: z
    .string()
    .max(63)
    .regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$|^$/, "not a valid hostname")
    .optional(),
  Domainname: z.string().max(255).optional(),
  /** The MAC address of the container's interface on its first network (deprecated in Docker for the endpoint's). */
  MacAddress: z
    .string()
    .regex(/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$|^$/, "invalid MAC address")
    .optional(),
  Labels: z.record(z.string().max(1024), z.string().max(65_536)).nullable().optional(),
  Tty: z.boolean().optional(),
  OpenStdin: z.boolean().optional(),
  StdinOnce: z.boolean().optional(),
  AttachStdin: z.boolean().optional(),
  AttachStdout: z.boolean().optional(),
  AttachStderr: z.boolean().optional(),
  StopSignal: Signal.optional(),
  StopTimeout: Int(-1, 86_400).nullable().optional(),
  Healthcheck: HealthcheckSchema.nullable().optional(),
  /** Anonymous volumes, as an image's VOLUME: `{"/data": {}}`. */
  Volumes: z.record(z.string().max(4096), z.object({})).nullable().optional(),
  ExposedPorts: z
    .record(z.string().regex(/^\d{1,5}(\/(tcp|udp|sctp))?$/), z.object({}))
    .nullable()
    .optional(),
  HostConfig: HostConfigSchema.default({}),
  /** Per-network settings: static addresses, aliases, links, MAC address (docker run --ip / --ip6 / --network-alias / --mac-address). */
  NetworkingConfig: z
    .object({
      EndpointsConfig: z.record(z.string().max(256), EndpointConfigSchema).nullable().optional(),
    })
    .nullable()
    .optional(),
});

/** Docker's default capability set (CAP_NET_RAW is no longer part of it). Agents grant it; policies allow adding beyond it. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
] as const;

/** Docker's container name rule. */
export const ContainerNameSchema = z
  .string()
  .regex(/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, "Invalid container name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
  .max(255);

export type ContainerConfig = z.output<typeof ContainerConfigSchema>;
export type HostConfig = z.output<typeof HostConfigSchema>;
