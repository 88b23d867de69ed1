import type { ContainerConfig } from "@berth/protocol";
import type { MountPoint } from "./mounts.ts";
import type { TaskFileMount } from "./task-files.ts";
import type { Endpoint, EndpointRequest } from "../network/index.ts";
import type { PortMapping } from "../network/index.ts";

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

/** Docker's State object, as it is persisted and shown by inspect. */
export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** Docker's State.Health. */
export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy";
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** The health check in effect (the create config's over the image's), durations in nanoseconds. */
export interface HealthcheckConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  OOMKilled: boolean;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

/** Everything the agent persists about one container (state/containers/<id>/container.json). */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** The create request as given (Docker's Config with HostConfig). */
  config: ContainerConfig;
  /** Resolved at create: the image's defaults merged in. */
  image: string;
  imageName: string;
  path: string;
  args: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
  hostname: string;
  state: ContainerState;
  restartCount: number;
  /** Set by an explicit stop or kill; restart policies leave such a container alone (and `unless-stopped` across agent restarts). */
  manuallyStopped: boolean;
  /** The health check in effect, if any (NONE disables the image's). */
  healthcheck: HealthcheckConfig | null;
  /** PID of the conmon supervising the current run. */
  conmonPid: number;
  /** Volumes, binds and tmpfs mounts, resolved at create (absent in records from before volumes). */
  mounts?: MountPoint[];
  /** Networks the container joins at start, by network ID, with what it asked for on each. */
  networks?: Record<string, EndpointRequest>;
  /** Its endpoints while it runs, by network ID (addresses are given at start and freed at exit). */
  endpoints?: Record<string, Endpoint>;
  /** The image's architecture (OCI name), for the seccomp filter's ABIs; absent in records from before it. */
  imageArchitecture?: string;
  /** Ports the image and the create config expose ("80/tcp"), for -P and inspect. */
  exposedPorts?: string[];
  /** Host ports published while it runs (random ones resolved). */
  ports?: PortMapping[];
  /** A service task's secrets and configs: where each shows (their contents are on a tmpfs, see task-files.ts). */
  taskFiles?: TaskFileMount[];
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";

export function newState(): ContainerState {
  return { Status: "created", Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME };
}

/** Running or paused: the container's process exists (a paused one is frozen, not gone). */
export function isRunning(rec: ContainerRecord): boolean {
  return rec.state.Status === "running" || rec.state.Status === "paused";
}
