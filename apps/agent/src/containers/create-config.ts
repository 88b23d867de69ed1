// How a create request and its image's config combine into a new container's record, by Docker's rules.
import type { ContainerConfig } from "@berth/protocol";
import type { ImageConfig } from "../images/index.ts";
import { ContainerError } from "./errors.ts";
import type { EndpointRequest } from "../network/index.ts";
import type { MountPoint } from "./mounts.ts";
import { newState, type ContainerRecord, type HealthcheckConfig } from "./record.ts";

/** The image's defaults for its containers (the `config` of its config). */
export type ImageRunConfig = NonNullable<ImageConfig["config"]>;

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A signal as runc takes it: a number as is, a name with its SIG prefix, upper case. */
export function signalName(s: string): string {
  if (/^\d+$/.test(s)) return s;
  const upper = s.toUpperCase();
  return upper.startsWith("SIG") ? upper : `SIG${upper}`;
}

/** Merges env lists by key; later lists win, as Docker merges the image's env with the create config's. */
export function mergeEnv(...lists: Array<readonly string[] | null | undefined>): string[] {
  const out = new Map<string, string>();
  for (const list of lists) for (const e of list ?? []) out.set(e.split("=", 1)[0]!, e);
  return [...out.values()];
}

/** The command a new container runs and where, or Docker's refusal of a create without one. */
export function resolveCommand(config: ContainerConfig, img: ImageRunConfig): { argv: string[]; workingDir: string } {
  const entrypoint = config.Entrypoint ?? img.Entrypoint ?? [];
  // Docker drops the image's Cmd when the create config sets its own Entrypoint.
  const cmd = config.Cmd ?? (config.Entrypoint ? [] : (img.Cmd ?? []));
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new ContainerError("no command specified", "INVALID");
  const workingDir = config.WorkingDir || img.WorkingDir || "/";
  if (!workingDir.startsWith("/")) {
    throw new ContainerError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`, "INVALID");
  }
  return { argv, workingDir };
}

/** What a create has settled before its record is written. */
export interface NewContainer {
  id: string;
  name: string;
  config: ContainerConfig;
  /** The image's ID and its defaults. */
  imageId: string;
  image: ImageRunConfig;
  imageArchitecture: string;
  argv: string[];
  workingDir: string;
  hostname: string;
  mounts: MountPoint[];
  networks: Record<string, EndpointRequest> | null;
}

/** The record of a new container: the create config over the image's defaults, not started yet. */
export function newRecord(n: NewContainer): ContainerRecord {
  const { config, image: img } = n;
  const exposed = [...Object.keys(img.ExposedPorts ?? {}), ...Object.keys(config.ExposedPorts ?? {})];
  return {
    id: n.id,
    name: n.name,
    created: new Date().toISOString(),
    config: { ...config, Labels: { ...(img.Labels ?? {}), ...(config.Labels ?? {}) } },
    image: n.imageId,
    imageName: config.Image,
    imageArchitecture: n.imageArchitecture,
    path: n.argv[0]!,
    args: n.argv.slice(1),
    env: mergeEnv([DEFAULT_PATH], img.Env, config.Env),
    workingDir: n.workingDir,
    user: config.User ?? img.User ?? "",
    stopSignal: signalName(config.StopSignal ?? img.StopSignal ?? "SIGTERM"),
    healthcheck: effectiveHealthcheck(config.Healthcheck ?? null, img.Healthcheck),
    hostname: n.hostname,
    state: newState(),
    restartCount: 0,
    manuallyStopped: false,
    conmonPid: 0,
    mounts: n.mounts,
    ...(n.networks ? { networks: n.networks } : {}),
    exposedPorts: [...new Set(exposed.map((p) => (p.includes("/") ? p : `${p}/tcp`)))],
  };
}

/** The create config's health check over the image's, field by field as Docker merges them; NONE disables. */
function effectiveHealthcheck(own: ContainerConfig["Healthcheck"], fromImage: unknown): HealthcheckConfig | null {
  const img = (fromImage && typeof fromImage === "object" ? fromImage : {}) as Partial<HealthcheckConfig>;
  const test = own?.Test?.length ? own.Test : Array.isArray(img.Test) ? img.Test : [];
  if (test.length === 0 || test[0] === "NONE") return null;
  const pick = (k: "Interval" | "Timeout" | "Retries" | "StartPeriod") => own?.[k] || (typeof img[k] === "number" ? img[k] : undefined);
  const out: HealthcheckConfig = { Test: test };
  for (const k of ["Interval", "Timeout", "Retries", "StartPeriod"] as const) {
    const v = pick(k);
    if (v) out[k] = v;
  }
  return out;
}
