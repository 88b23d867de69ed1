import { stringify } from "yaml";
import type { ServiceSpec } from "../services/spec.ts";
import { environmentOf, healthcheckOf, literal, msText, unscoped } from "./compose-writer.ts";
import { STACK_LABEL } from "./fleet-plan.ts";

/*
 * A compose file written back from a stack's fleet services, for adopting a stack that
 * `docker stack deploy` made through the fleet Docker endpoint: each service's spec in compose's
 * words (the reverse of fleet-plan.ts), its networks (the stack's own declared, others external)
 * and its secrets and configs (kept as they are: external, by their full names, since their
 * contents cannot be read back). Values equal to Berth's defaults are left out. Every `$` is
 * written as `$$`, so nothing in it is interpolated when the file is read again.
 */

const without = (labels: Record<string, string>, key: string) => Object.fromEntries(Object.entries(labels).filter(([k]) => k !== key));
const UPDATE_DEFAULTS = { parallelism: 1, delayMs: 0, failureAction: "pause", monitorMs: 5000, maxFailureRatio: 0, order: "stop-first" };

export function composeFromServices(
  stack: string,
  specs: ServiceSpec[],
  overlays: { name: string; internal: boolean; attachable: boolean; encrypted: boolean }[],
): string {
  const scoped = (name: string) => unscoped(stack, name);
  const services: Record<string, unknown> = {};
  const networks: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  const secrets: Record<string, unknown> = {};
  const configs: Record<string, unknown> = {};
  for (const spec of [...specs].sort((a, b) => a.name.localeCompare(b.name))) {
    const key = scoped(spec.name) ?? spec.name;
    const t = spec.task;
    const svc: Record<string, unknown> = { image: t.image };
    if (t.command) svc.entrypoint = t.command.map(literal);
    if (t.args) svc.command = t.args.map(literal);
    if (t.env.length) svc.environment = environmentOf(t.env);
    const taskLabels = without(t.labels, STACK_LABEL);
    if (Object.keys(taskLabels).length) svc.labels = Object.fromEntries(Object.entries(taskLabels).map(([k, v]) => [k, literal(v)]));
    if (t.user) svc.user = literal(t.user);
    if (t.workdir) svc.working_dir = literal(t.workdir);
    if (t.hostname) svc.hostname = t.hostname;
    if (t.stopSignal) svc.stop_signal = t.stopSignal;
    if (t.stopGracePeriodMs !== 10_000) svc.stop_grace_period = msText(t.stopGracePeriodMs);
    const mounts: unknown[] = [];
    const tmpfs: string[] = [];
    for (const m of t.mounts) {
      if (m.Type === "tmpfs" && !m.TmpfsOptions) tmpfs.push(m.Target);
      else if (m.Type === "volume" && m.Source) {
        const v = scoped(m.Source);
        if (v) volumes[v] = {};
        else volumes[m.Source] = { external: true };
        mounts.push(
          `${v ?? m.Source}:${m.Target}${m.ReadOnly ? ":ro" : ""}${m.VolumeOptions?.NoCopy ? (m.ReadOnly ? ",nocopy" : ":nocopy") : ""}`,
        );
      } else if (m.Type === "bind" && m.Source) mounts.push(`${literal(m.Source)}:${m.Target}${m.ReadOnly ? ":ro" : ""}`);
      else if (m.Type === "volume") mounts.push(m.Target);
      else
        mounts.push({
          type: "tmpfs",
          target: m.Target,
          ...(m.TmpfsOptions?.SizeBytes ? { tmpfs: { size: m.TmpfsOptions.SizeBytes } } : {}),
        });
    }
    if (mounts.length) svc.volumes = mounts;
    if (tmpfs.length) svc.tmpfs = tmpfs;
    const healthcheck = healthcheckOf(t.healthcheck);
    if (healthcheck) svc.healthcheck = healthcheck;
    // docker stack deploy pins the image's platform; compose says one platform (more cannot be written).
    if (t.placement.platforms.length === 1) svc.platform = `${t.placement.platforms[0]!.os}/${t.placement.platforms[0]!.arch}`;
    const nets: Record<string, unknown> = {};
    for (const n of t.networks) {
      const k = scoped(n.target);
      const aliases = n.aliases.filter((a) => a !== key);
      nets[k ?? n.target] = aliases.length ? { aliases } : null;
      if (!k) networks[n.target] = { external: true };
      else if (k !== "default" || overlays.some((o) => o.name === n.target && (o.internal || o.attachable || o.encrypted))) {
        const o = overlays.find((x) => x.name === n.target);
        networks[k] = {
          driver: "overlay",
          ...(o?.internal ? { internal: true } : {}),
          ...(o?.attachable ? { attachable: true } : {}),
          ...(o?.encrypted ? { driver_opts: { encrypted: "" } } : {}),
        };
      }
    }
    if (!(Object.keys(nets).length === 1 && "default" in nets && nets.default === null) && Object.keys(nets).length) svc.networks = nets;
    const refs = (kind: "secrets" | "configs", list: ServiceSpec["task"]["secrets"], into: Record<string, unknown>) =>
      list.map((r) => {
        const k = scoped(r.source) ?? r.source;
        into[k] = { external: true, name: r.source };
        const long = r.target !== undefined || r.uid !== undefined || r.gid !== undefined || r.mode !== undefined;
        return long
          ? {
              source: k,
              ...(r.target !== undefined ? { target: r.target } : {}),
              ...(r.uid !== undefined ? { uid: r.uid } : {}),
              ...(r.gid !== undefined ? { gid: r.gid } : {}),
              ...(r.mode !== undefined ? { mode: r.mode } : {}),
            }
          : k;
      });
    if (t.secrets.length) svc.secrets = refs("secrets", t.secrets, secrets);
    if (t.configs.length) svc.configs = refs("configs", t.configs, configs);
    if (spec.endpoint.ports.length)
      svc.ports = spec.endpoint.ports.map((p) => ({
        target: p.target,
        ...(p.published !== undefined ? { published: p.published } : {}),
        ...(p.protocol !== "tcp" ? { protocol: p.protocol } : {}),
        ...(p.publishMode !== "ingress" ? { mode: p.publishMode } : {}),
      }));
    const deploy: Record<string, unknown> = {};
    if (spec.mode.kind === "global") deploy.mode = "global";
    else if (spec.mode.replicas !== 1) deploy.replicas = spec.mode.replicas;
    const deployLabels = without(spec.labels, STACK_LABEL);
    if (Object.keys(deployLabels).length) deploy.labels = deployLabels;
    if (spec.endpoint.mode !== "vip") deploy.endpoint_mode = spec.endpoint.mode;
    const set = (r: { nanoCpus?: number | undefined; memoryBytes?: number | undefined }) => ({
      ...(r.nanoCpus ? { cpus: String(r.nanoCpus / 1e9) } : {}),
      ...(r.memoryBytes ? { memory: `${r.memoryBytes}b` } : {}),
    });
    const limits = set(t.resources.limits);
    const reservations = set(t.resources.reservations);
    if (Object.keys(limits).length || Object.keys(reservations).length)
      deploy.resources = {
        ...(Object.keys(limits).length ? { limits } : {}),
        ...(Object.keys(reservations).length ? { reservations } : {}),
      };
    const rp = t.restartPolicy;
    if (rp.condition !== "any" || rp.delayMs !== 5000 || rp.maxAttempts !== 0 || rp.windowMs !== 0)
      deploy.restart_policy = {
        condition: rp.condition,
        delay: msText(rp.delayMs),
        ...(rp.maxAttempts ? { max_attempts: rp.maxAttempts } : {}),
        ...(rp.windowMs ? { window: msText(rp.windowMs) } : {}),
      };
    const pl = t.placement;
    if (pl.constraints.length || pl.preferences.length || pl.maxReplicasPerHost)
      deploy.placement = {
        ...(pl.constraints.length ? { constraints: pl.constraints } : {}),
        ...(pl.preferences.length ? { preferences: pl.preferences } : {}),
        ...(pl.maxReplicasPerHost ? { max_replicas_per_node: pl.maxReplicasPerHost } : {}),
      };
    const update = (u: ServiceSpec["updateConfig"]) =>
      Object.entries(UPDATE_DEFAULTS).every(([k, v]) => u[k as keyof typeof u] === v)
        ? null
        : {
            parallelism: u.parallelism,
            delay: msText(u.delayMs),
            failure_action: u.failureAction,
            monitor: msText(u.monitorMs),
            max_failure_ratio: u.maxFailureRatio,
            order: u.order,
          };
    const uc = update(spec.updateConfig);
    if (uc) deploy.update_config = uc;
    const rc = update(spec.rollbackConfig);
    if (rc) deploy.rollback_config = rc;
    if (Object.keys(deploy).length) svc.deploy = deploy;
    services[key] = svc;
  }
  const file: Record<string, unknown> = { services };
  for (const [section, value] of [
    ["networks", networks],
    ["volumes", volumes],
    ["secrets", secrets],
    ["configs", configs],
  ] as const)
    if (Object.keys(value).length) file[section] = value;
  return `# Adopted by Berth from the services of stack ${stack} (docker stack deploy).\n# Secrets and configs are kept as they are, by name: their contents cannot be read back.\n${stringify(file)}`;
}
