import { stringify } from "yaml";
import { z } from "zod";
import { environmentOf, healthcheckOf, literal, unscoped } from "./compose-writer.ts";
import { COMPOSE_NUMBER, COMPOSE_ONEOFF, COMPOSE_PROJECT, COMPOSE_SERVICE } from "./host-plan.ts";

/*
 * A compose file written back from a project's running containers, for adopting a project that
 * `docker-compose` (or `docker compose`) started on a host: image, command and entrypoint (when
 * not the image's own), environment and labels (less the image's and compose's own), ports,
 * volumes and binds, networks with their aliases, restart policy, healthcheck, user, working
 * directory and stop settings. Replicas are the count of a service's containers. What containers
 * do not keep is lost: `depends_on` (docker-compose 1.29 records no label for it), `build:`, and
 * the files the project was read from. Every `$` is written as `$$`, so nothing in it is
 * interpolated when the file is read again.
 */

const Strings = z.array(z.string()).nullish();
const StringMap = z.record(z.string(), z.string()).nullish();

/** The parts of Docker's container inspect this reads (the agent's, Docker-compatible), checked as they come from the host. */
export const InspectedContainerSchema = z.looseObject({
  Name: z.string(),
  Config: z.looseObject({
    Image: z.string(),
    Cmd: Strings,
    Entrypoint: Strings,
    Env: Strings,
    Labels: StringMap,
    User: z.string().nullish(),
    WorkingDir: z.string().nullish(),
    StopSignal: z.string().nullish(),
    StopTimeout: z.number().nullish(),
    Tty: z.boolean().nullish(),
    OpenStdin: z.boolean().nullish(),
    Healthcheck: z
      .looseObject({
        Test: Strings,
        Interval: z.number().nullish(),
        Timeout: z.number().nullish(),
        Retries: z.number().nullish(),
        StartPeriod: z.number().nullish(),
      })
      .nullish(),
  }),
  HostConfig: z
    .looseObject({
      PortBindings: z
        .record(z.string(), z.array(z.looseObject({ HostIp: z.string().nullish(), HostPort: z.string().nullish() })).nullish())
        .nullish(),
      RestartPolicy: z.looseObject({ Name: z.string().nullish(), MaximumRetryCount: z.number().nullish() }).nullish(),
      CapAdd: Strings,
      CapDrop: Strings,
      ExtraHosts: Strings,
      ReadonlyRootfs: z.boolean().nullish(),
      Init: z.boolean().nullish(),
    })
    .nullish(),
  Mounts: z
    .array(
      z.looseObject({
        Type: z.string(),
        Name: z.string().nullish(),
        Source: z.string().nullish(),
        Destination: z.string(),
        RW: z.boolean().nullish(),
      }),
    )
    .nullish(),
  NetworkSettings: z.looseObject({ Networks: z.record(z.string(), z.looseObject({ Aliases: Strings }).nullish()).nullish() }).nullish(),
});
export type InspectedContainer = z.input<typeof InspectedContainerSchema>;

/** What an image sets itself: a container's values equal to these were not the project's. */
export const ImageDefaultsSchema = z.looseObject({ Cmd: Strings, Entrypoint: Strings, Env: Strings, Labels: StringMap });
export type ImageDefaults = z.input<typeof ImageDefaultsSchema>;

const same = (a: readonly string[] | null | undefined, b: readonly string[] | null | undefined) =>
  JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/** The project's compose file, from its containers (any order) and their images' defaults (by image reference). */
export function composeFromContainers(project: string, containers: InspectedContainer[], images: Map<string, ImageDefaults>): string {
  const byService = new Map<string, InspectedContainer[]>();
  for (const c of containers) {
    const labels = c.Config.Labels ?? {};
    if (labels[COMPOSE_PROJECT] !== project || labels[COMPOSE_ONEOFF] === "True") continue;
    const service = labels[COMPOSE_SERVICE];
    if (!service) continue;
    byService.set(service, [...(byService.get(service) ?? []), c]);
  }
  const scoped = (name: string) => unscoped(project, name);
  const services: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  const networks: Record<string, unknown> = {};
  for (const [service, list] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
    // The first container speaks for the service (they share one configuration).
    list.sort((a, b) => Number(a.Config.Labels?.[COMPOSE_NUMBER] ?? 0) - Number(b.Config.Labels?.[COMPOSE_NUMBER] ?? 0));
    const c = list[0]!;
    const image = images.get(c.Config.Image) ?? {};
    const svc: Record<string, unknown> = { image: c.Config.Image };
    if (c.Config.Entrypoint?.length && !same(c.Config.Entrypoint, image.Entrypoint)) svc.entrypoint = c.Config.Entrypoint.map(literal);
    if (c.Config.Cmd?.length && !same(c.Config.Cmd, image.Cmd)) svc.command = c.Config.Cmd.map(literal);
    const imageEnv = new Set(image.Env ?? []);
    const env = (c.Config.Env ?? []).filter((e) => !imageEnv.has(e));
    if (env.length) svc.environment = environmentOf(env);
    const labels = Object.entries(c.Config.Labels ?? {}).filter(
      ([k, v]) => !k.startsWith("com.docker.compose.") && image.Labels?.[k] !== v,
    );
    if (labels.length) svc.labels = Object.fromEntries(labels.map(([k, v]) => [k, literal(v)]));
    const ports: string[] = [];
    for (const [port, bindings] of Object.entries(c.HostConfig?.PortBindings ?? {}))
      for (const b of bindings ?? []) {
        const [num, proto = "tcp"] = port.split("/");
        const host = b.HostPort ? `${b.HostIp && b.HostIp !== "0.0.0.0" ? `${b.HostIp}:` : ""}${b.HostPort}:` : "";
        ports.push(`${host}${num}${proto === "tcp" ? "" : `/${proto}`}`);
      }
    if (ports.length) svc.ports = ports;
    const mounts: string[] = [];
    for (const m of c.Mounts ?? []) {
      const mode = m.RW === false ? ":ro" : "";
      if (m.Type === "volume" && m.Name) {
        const key = scoped(m.Name);
        // An anonymous volume (a long hex name) is the image's or the file's: the path alone recreates it.
        if (/^[0-9a-f]{64}$/.test(m.Name)) mounts.push(m.Destination);
        else if (key) {
          mounts.push(`${key}:${m.Destination}${mode}`);
          volumes[key] = {};
        } else {
          mounts.push(`${m.Name}:${m.Destination}${mode}`);
          volumes[m.Name] = { external: true };
        }
      } else if (m.Type === "bind" && m.Source) mounts.push(`${literal(m.Source)}:${m.Destination}${mode}`);
    }
    if (mounts.length) svc.volumes = mounts;
    const nets = Object.entries(c.NetworkSettings?.Networks ?? {});
    const joined: Record<string, unknown> = {};
    const containerNames = new Set(list.map((x) => x.Name.replace(/^\//, "")));
    for (const [name, endpoint] of nets) {
      const key = scoped(name);
      // Compose adds the service's name and the container's short id itself.
      const aliases = (endpoint?.Aliases ?? []).filter((a) => a !== service && !/^[0-9a-f]{12}$/.test(a) && !containerNames.has(a));
      if (key) {
        if (key !== "default") networks[key] = {};
        joined[key] = aliases.length ? { aliases } : null;
      } else if (!["bridge", "host", "none"].includes(name)) {
        networks[name] = { external: true };
        joined[name] = aliases.length ? { aliases } : null;
      }
    }
    if (!(Object.keys(joined).length === 1 && "default" in joined && joined.default === null) && Object.keys(joined).length)
      svc.networks = joined;
    const restart = c.HostConfig?.RestartPolicy?.Name;
    if (restart && restart !== "no")
      svc.restart =
        restart === "on-failure" && c.HostConfig?.RestartPolicy?.MaximumRetryCount
          ? `on-failure:${c.HostConfig.RestartPolicy.MaximumRetryCount}`
          : restart;
    const healthcheck = healthcheckOf(c.Config.Healthcheck);
    if (healthcheck) svc.healthcheck = healthcheck;
    if (c.Config.User) svc.user = literal(c.Config.User);
    if (c.Config.WorkingDir) svc.working_dir = literal(c.Config.WorkingDir);
    if (c.Config.StopSignal && c.Config.StopSignal !== "SIGTERM") svc.stop_signal = c.Config.StopSignal;
    if (c.Config.StopTimeout != null && c.Config.StopTimeout !== 10) svc.stop_grace_period = `${c.Config.StopTimeout}s`;
    if (c.Config.Tty) svc.tty = true;
    if (c.Config.OpenStdin) svc.stdin_open = true;
    if (c.HostConfig?.CapAdd?.length) svc.cap_add = c.HostConfig.CapAdd;
    if (c.HostConfig?.CapDrop?.length) svc.cap_drop = c.HostConfig.CapDrop;
    if (c.HostConfig?.ExtraHosts?.length) svc.extra_hosts = c.HostConfig.ExtraHosts;
    if (c.HostConfig?.ReadonlyRootfs) svc.read_only = true;
    if (c.HostConfig?.Init) svc.init = true;
    if (list.length > 1) svc.deploy = { replicas: list.length };
    services[service] = svc;
  }
  const file: Record<string, unknown> = { services };
  if (Object.keys(networks).length) file.networks = networks;
  if (Object.keys(volumes).length) file.volumes = volumes;
  return `# Adopted by Berth from the containers of compose project ${project}.\n# Not recorded by containers, so not here: depends_on, build:.\n${stringify(file)}`;
}
