// Containers as the Docker Engine API shows them (ContainerSummary, ContainerInspectResponse):
// pure functions of a container's record, its paths and the host's networks.
import { join } from "node:path";
import type { ContainerConfig, HostConfig } from "@berth/protocol";
import type { NetworkService } from "../network/index.ts";
import { humanDuration } from "./human-duration.ts";
import { inspectLinks } from "./links.ts";
import type { MountPoint } from "./mounts.ts";
import type { ContainerPaths } from "./paths.ts";
import { cgroupnsMode } from "./shared-namespaces.ts";
import { isRunning, ZERO_TIME, type ContainerRecord, type ContainerStatus, type HealthcheckConfig, type HealthState } from "./record.ts";

/** What the views read besides the record: where its files are, and the networks it may be on. */
export interface ViewContext {
  paths: ContainerPaths;
  /** Absent when bridge networking is off. */
  networks: Pick<NetworkService, "get" | "all"> | undefined;
  /** A container by name or ID, for the names of linked containers. */
  find(ref: string): ContainerRecord | undefined;
}

/** Docker's MountPoint, as list and inspect show a container's mounts. */
export interface ContainerMount {
  Type: MountPoint["Type"];
  /** Volumes only. */
  Name?: string;
  Source: string;
  Destination: string;
  /** Volumes only. */
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** Docker's EndpointSettings; the placeholder of `host` and `none` has no IPAMConfig, Links, DriverOpts or DNSNames. */
export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Links?: string[] | null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  DriverOpts?: Record<string, string> | null;
  DNSNames?: string[] | null;
}

/** Docker's Port of a list entry: a published port. */
export interface ContainerPort {
  IP: string;
  PrivatePort: number;
  PublicPort: number;
  Type: "tcp" | "udp";
}

/** Docker's PortMap: "80/tcp" → its host bindings, null when exposed but not published. */
export type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

/** Docker's /containers/json entry (ContainerSummary). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Unix seconds. */
  Created: number;
  State: ContainerStatus;
  /** "Up 3 minutes", "Exited (0) 2 hours ago"… */
  Status: string;
  Ports: ContainerPort[];
  Labels: Record<string, string>;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, EndpointSettings> };
  Mounts: ContainerMount[];
}

/** Docker's ContainerState. */
export interface ContainerInspectState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

/** The part of Docker's HostConfig that inspect shows, with Docker's defaults filled in. */
export interface ContainerInspectHostConfig {
  NetworkMode: string;
  RestartPolicy: NonNullable<HostConfig["RestartPolicy"]>;
  AutoRemove: boolean;
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  SecurityOpt: string[] | null;
  Memory: number;
  MemorySwap: number;
  MemoryReservation: number;
  NanoCpus: number;
  CpuShares: number;
  CpuPeriod: number;
  CpuQuota: number;
  CpuRealtimePeriod: number;
  CpuRealtimeRuntime: number;
  CpusetCpus: string;
  CpusetMems: string;
  PidsLimit: number | null;
  OomKillDisable: boolean;
  Ulimits: NonNullable<HostConfig["Ulimits"]> | null;
  ShmSize: number;
  Sysctls: Record<string, string> | null;
  Init: boolean | null;
  LogConfig: { Type: string; Config: Record<string, string> };
  PortBindings: NonNullable<HostConfig["PortBindings"]>;
  PublishAllPorts: boolean;
  Binds: string[] | null;
  Tmpfs: Record<string, string> | null;
  VolumesFrom: string[] | null;
  Links: string[] | null;
  GroupAdd: string[] | null;
  MemorySwappiness: number | null;
  Devices: NonNullable<HostConfig["Devices"]>;
  DeviceCgroupRules: string[] | null;
  Runtime: string;
  VolumeDriver: string;
  PidMode: string;
  IpcMode: string;
  UTSMode: string;
  CgroupnsMode: string;
  Isolation: string;
  Dns: string[];
  DnsSearch: string[];
  DnsOptions: string[];
  ExtraHosts: string[] | null;
  OomScoreAdj: number;
}

/** Docker's ContainerConfig as inspect shows it: the create config with the image's defaults resolved. */
export interface ContainerInspectConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts: NonNullable<ContainerConfig["ExposedPorts"]> | null;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: null;
  Labels: Record<string, string>;
  StopSignal: string;
  StopTimeout?: number;
  Healthcheck?: HealthcheckConfig;
  MacAddress?: string;
}

/** Docker's NetworkSettings: the default bridge's addresses at the top, then every network's endpoint. */
export interface ContainerNetworkSettings {
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPv6Gateway: string;
  Networks: Record<string, EndpointSettings>;
  Ports: PortMap;
}

/** Docker's /containers/{id}/json (ContainerInspectResponse). */
export interface ContainerInspect {
  Id: string;
  /** RFC 3339. */
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerInspectState;
  /** The image's ID. */
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  /** With Docker's leading slash. */
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: ContainerInspectHostConfig;
  GraphDriver: { Name: string; Data: { MergedDir: string } };
  Mounts: ContainerMount[];
  Config: ContainerInspectConfig;
  NetworkSettings: ContainerNetworkSettings;
}

/** Docker's /containers/json entry of one container. */
export function containerSummary(r: ContainerRecord, ctx: ViewContext, now = Date.now()): ContainerSummary {
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: r.imageName,
    ImageID: r.image,
    Command: [r.path, ...r.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" "),
    Created: Math.floor(Date.parse(r.created) / 1000),
    State: r.state.Status,
    Status: statusText(r, now),
    Ports: (r.ports ?? []).map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto })),
    Labels: r.config.Labels ?? {},
    HostConfig: { NetworkMode: r.config.HostConfig.NetworkMode ?? "none" },
    NetworkSettings: { Networks: networkEndpoints(r, ctx.networks) },
    Mounts: containerMounts(r),
  };
}

/** The Status column of `docker ps`. */
export function statusText(r: ContainerRecord, now = Date.now()): string {
  const since = (t: string) => humanDuration(now - Date.parse(t));
  switch (r.state.Status) {
    case "running": {
      const health = r.state.Health;
      return `Up ${since(r.state.StartedAt)}${health ? ` (${health.Status === "starting" ? "health: starting" : health.Status})` : ""}`;
    }
    case "paused":
      return `Up ${since(r.state.StartedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${r.state.ExitCode}) ${since(r.state.FinishedAt)} ago`;
    case "exited":
      return r.state.FinishedAt === ZERO_TIME ? "Exited" : `Exited (${r.state.ExitCode}) ${since(r.state.FinishedAt)} ago`;
    case "created":
      return "Created";
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
  }
}

/** Docker's /containers/{id}/json of one container. */
export function containerInspect(r: ContainerRecord, ctx: ViewContext): ContainerInspect {
  const d = ctx.paths.dir(r.id);
  return {
    Id: r.id,
    Created: r.created,
    Path: r.path,
    Args: r.args,
    State: inspectState(r),
    Image: r.image,
    ResolvConfPath: join(d, "resolv.conf"),
    HostnamePath: join(d, "hostname"),
    HostsPath: join(d, "hosts"),
    LogPath: ctx.paths.logPath(r.id),
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: "overlay",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: null,
    HostConfig: { ...inspectHostConfig(r.config.HostConfig), Links: inspectLinks(r, ctx.find) },
    GraphDriver: { Name: "overlay", Data: { MergedDir: ctx.paths.rootfs(r.id) } },
    Mounts: containerMounts(r),
    Config: inspectConfig(r),
    NetworkSettings: { ...defaultBridgeSettings(r, ctx.networks), Networks: networkEndpoints(r, ctx.networks), Ports: portMap(r) },
  };
}

function inspectState(r: ContainerRecord): ContainerInspectState {
  return {
    Status: r.state.Status,
    Running: isRunning(r),
    Paused: r.state.Status === "paused",
    Restarting: r.state.Status === "restarting",
    OOMKilled: r.state.OOMKilled,
    Dead: r.state.Status === "dead",
    Pid: r.state.Pid,
    ExitCode: r.state.ExitCode,
    Error: r.state.Error,
    StartedAt: r.state.StartedAt,
    FinishedAt: r.state.FinishedAt,
    ...(r.state.Health ? { Health: r.state.Health } : {}),
  };
}

function inspectHostConfig(host: HostConfig): ContainerInspectHostConfig {
  return {
    NetworkMode: host.NetworkMode ?? "none",
    RestartPolicy: host.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: Boolean(host.AutoRemove),
    Privileged: Boolean(host.Privileged),
    ReadonlyRootfs: Boolean(host.ReadonlyRootfs),
    CapAdd: host.CapAdd ?? null,
    CapDrop: host.CapDrop ?? null,
    SecurityOpt: host.SecurityOpt ?? null,
    Memory: host.Memory ?? 0,
    MemorySwap: host.MemorySwap ?? 0,
    MemoryReservation: host.MemoryReservation ?? 0,
    NanoCpus: host.NanoCpus ?? 0,
    CpuShares: host.CpuShares ?? 0,
    CpuPeriod: host.CpuPeriod ?? 0,
    CpuQuota: host.CpuQuota ?? 0,
    CpuRealtimePeriod: host.CpuRealtimePeriod ?? 0,
    CpuRealtimeRuntime: host.CpuRealtimeRuntime ?? 0,
    CpusetCpus: host.CpusetCpus ?? "",
    CpusetMems: host.CpusetMems ?? "",
    PidsLimit: host.PidsLimit ?? null,
    OomKillDisable: Boolean(host.OomKillDisable),
    Ulimits: host.Ulimits ?? null,
    ShmSize: host.ShmSize || 64 * 1024 * 1024,
    Sysctls: host.Sysctls ?? null,
    Init: host.Init ?? null,
    LogConfig: { Type: host.LogConfig?.Type || "json-file", Config: host.LogConfig?.Config ?? {} },
    PortBindings: host.PortBindings ?? {},
    PublishAllPorts: Boolean(host.PublishAllPorts),
    Binds: host.Binds ?? null,
    Tmpfs: host.Tmpfs ?? null,
    VolumesFrom: host.VolumesFrom ?? null,
    Links: null,
    GroupAdd: host.GroupAdd ?? null,
    MemorySwappiness: host.MemorySwappiness ?? null,
    Devices: host.Devices ?? [],
    DeviceCgroupRules: host.DeviceCgroupRules ?? null,
    Runtime: host.Runtime || "runc",
    VolumeDriver: host.VolumeDriver ?? "",
    PidMode: host.PidMode ?? "",
    // dockerd fills in its default IPC mode (private) at create.
    IpcMode: host.IpcMode || "private",
    UTSMode: host.UTSMode ?? "",
    CgroupnsMode: cgroupnsMode(host),
    Isolation: host.Isolation ?? "",
    Dns: host.Dns ?? [],
    DnsSearch: host.DnsSearch ?? [],
    DnsOptions: host.DnsOptions ?? [],
    ExtraHosts: host.ExtraHosts ?? null,
    OomScoreAdj: host.OomScoreAdj ?? 0,
  };
}

function inspectConfig(r: ContainerRecord): ContainerInspectConfig {
  const c = r.config;
  return {
    Hostname: r.hostname,
    Domainname: c.Domainname ?? "",
    User: r.user,
    AttachStdin: Boolean(c.AttachStdin),
    AttachStdout: c.AttachStdout ?? true,
    AttachStderr: c.AttachStderr ?? true,
    ExposedPorts: c.ExposedPorts ?? null,
    Tty: Boolean(c.Tty),
    OpenStdin: Boolean(c.OpenStdin),
    StdinOnce: Boolean(c.StdinOnce),
    Env: r.env,
    Cmd: c.Cmd ?? null,
    Image: r.imageName,
    Volumes: null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: null,
    Labels: c.Labels ?? {},
    StopSignal: r.stopSignal,
    ...(c.MacAddress ? { MacAddress: c.MacAddress } : {}),
    ...(c.StopTimeout !== undefined && c.StopTimeout !== null ? { StopTimeout: c.StopTimeout } : {}),
    ...(r.healthcheck ? { Healthcheck: r.healthcheck } : {}),
  };
}

/** Docker's NetworkSettings.Networks: each network the container is on, with its endpoint while it runs. */
export function networkEndpoints(r: ContainerRecord, nets: ViewContext["networks"]): Record<string, EndpointSettings> {
  const out: Record<string, EndpointSettings> = {};
  const mode = r.config.HostConfig.NetworkMode;
  if (!r.networks && (mode === "host" || mode === "none" || !nets)) {
    const none = {
      NetworkID: "",
      EndpointID: "",
      Gateway: "",
      IPAddress: "",
      IPPrefixLen: 0,
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      MacAddress: "",
      Aliases: null,
    };
    out[mode === "host" ? "host" : "none"] = none;
    return out;
  }
  for (const [netId, req] of Object.entries(r.networks ?? {})) {
    let name: string;
    try {
      name = nets!.get(netId).Name;
    } catch {
      continue; // removed meanwhile
    }
    const ep = r.endpoints?.[netId];
    out[name] = {
      IPAMConfig: req.IPAMConfig ?? null,
      Links: req.Links?.length ? req.Links : null,
      Aliases: ep?.Aliases ?? req.Aliases ?? null,
      NetworkID: netId,
      EndpointID: ep?.EndpointID ?? "",
      Gateway: ep?.Gateway ?? "",
      IPAddress: ep?.IPAddress ?? "",
      IPPrefixLen: ep?.IPPrefixLen ?? 0,
      IPv6Gateway: ep?.IPv6Gateway ?? "",
      GlobalIPv6Address: ep?.GlobalIPv6Address ?? "",
      GlobalIPv6PrefixLen: ep?.GlobalIPv6PrefixLen ?? 0,
      // The configured MAC address shows before a start too, as dockerd keeps it in the endpoint's settings.
      MacAddress: ep?.MacAddress ?? req.MacAddress ?? "",
      DriverOpts: req.DriverOpts ?? null,
      DNSNames: ep ? ep.Aliases : null,
    };
  }
  return out;
}

type BridgeAddresses = Pick<
  ContainerNetworkSettings,
  "IPAddress" | "IPPrefixLen" | "Gateway" | "MacAddress" | "GlobalIPv6Address" | "GlobalIPv6PrefixLen" | "IPv6Gateway"
>;

/** The top-level addresses of inspect's NetworkSettings, which Docker fills from the default bridge. */
function defaultBridgeSettings(r: ContainerRecord, nets: ViewContext["networks"]): BridgeAddresses {
  const bridge = Object.values(r.endpoints ?? {}).find((e) => nets?.all().find((n) => n.Id === e.NetworkID)?.predefined);
  return {
    IPAddress: bridge?.IPAddress ?? "",
    IPPrefixLen: bridge?.IPPrefixLen ?? 0,
    Gateway: bridge?.Gateway ?? "",
    MacAddress: bridge?.MacAddress ?? "",
    GlobalIPv6Address: bridge?.GlobalIPv6Address ?? "",
    GlobalIPv6PrefixLen: bridge?.GlobalIPv6PrefixLen ?? 0,
    IPv6Gateway: bridge?.IPv6Gateway ?? "",
  };
}

/** Docker's NetworkSettings.Ports: each exposed or published port, with its host bindings while it runs. */
export function portMap(r: ContainerRecord): PortMap {
  const out: PortMap = {};
  for (const p of r.exposedPorts ?? []) out[p] = null;
  for (const m of r.ports ?? []) {
    const key = `${m.containerPort}/${m.proto}`;
    const bindings = out[key] ?? [];
    out[key] = bindings;
    bindings.push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  }
  return out;
}

/** Docker's Mounts of list and inspect. */
export function containerMounts(r: ContainerRecord): ContainerMount[] {
  return (r.mounts ?? []).map((m) => ({
    Type: m.Type,
    ...(m.Type === "volume" ? { Name: m.Name } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Type === "volume" ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }));
}
