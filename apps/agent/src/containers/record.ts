import type { ContainerConfig } from "@berth/protocol";

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

/** Docker's State object, as it is persisted and shown by inspect. */
export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  OOMKilled: boolean;
  StartedAt: string;
  FinishedAt: string;
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
  /** PID of the conmon supervising the current run. */
  conmonPid: number;
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";

export function newState(): ContainerState {
  return { Status: "created", Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME };
}
