import type { CommandInput } from "@berth/protocol";
import type { ServiceSpec } from "./spec.ts";

/*
 * A task's container on its host. Agents know nothing of services: they run a container whose
 * labels say which service, task and slot it is (Swarm's own label names, so `docker ps` and
 * tools that read them see what they expect), and report it back. The reconciler matches what
 * hosts report by these labels, so a restart of either side finds what runs and never doubles a slot.
 */

export const TASK_LABELS = {
  serviceId: "com.docker.swarm.service.id",
  serviceName: "com.docker.swarm.service.name",
  taskId: "com.docker.swarm.task.id",
  taskName: "com.docker.swarm.task.name",
  nodeId: "com.docker.swarm.node.id",
  slot: "berth.task.slot",
} as const;

export interface TaskIdentity {
  serviceId: string;
  serviceName: string;
  taskId: string;
  slot: number;
  hostId: string;
}

/** Swarm's task name: `<service>.<slot>.<task id>` (a global task's slot is its host). */
export function taskName(t: Pick<TaskIdentity, "serviceName" | "slot" | "taskId" | "hostId">): string {
  return `${t.serviceName}.${t.slot > 0 ? t.slot : t.hostId}.${t.taskId}`;
}

/**
 * The task identity a container's labels carry, or null for a container that is no task. Berth's
 * own slot label must be there too: a container someone labelled like a Swarm task by hand (or
 * one a real Swarm made) is never adopted, nor removed as stale.
 */
export function taskOfLabels(labels: Record<string, string> | null | undefined): { serviceId: string; taskId: string } | null {
  const serviceId = labels?.[TASK_LABELS.serviceId];
  const taskId = labels?.[TASK_LABELS.taskId];
  return serviceId && taskId && labels?.[TASK_LABELS.slot] !== undefined ? { serviceId, taskId } : null;
}

/** The routing mesh's overlay network: one per team, made when a service first publishes a port in ingress mode. */
export const INGRESS_NETWORK = "ingress";

export function taskContainerConfig(spec: ServiceSpec, t: TaskIdentity): CommandInput<"containers.create">["config"] {
  const task = spec.task;
  const limits = task.resources.limits;
  const reservations = task.resources.reservations;
  const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  const exposed: Record<string, Record<string, never>> = {};
  for (const p of spec.endpoint.ports) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    // Ingress ports are opened by every host's routing mesh, which reaches the task on the ingress network.
    if (p.publishMode !== "host") continue;
    const binding = { HostIp: "", HostPort: p.published !== undefined ? String(p.published) : "" };
    portBindings[key] = [...(portBindings[key] ?? []), binding];
  }
  const ingress = spec.endpoint.ports.some((p) => p.publishMode === "ingress");
  const [first, ...more] = [...task.networks, ...(ingress ? [{ target: INGRESS_NETWORK, aliases: [] }] : [])];
  return {
    Image: task.image,
    ...(task.command ? { Entrypoint: task.command } : {}),
    ...(task.args ? { Cmd: task.args } : {}),
    Env: task.env,
    Labels: {
      ...task.labels,
      [TASK_LABELS.serviceId]: t.serviceId,
      [TASK_LABELS.serviceName]: t.serviceName,
      [TASK_LABELS.taskId]: t.taskId,
      [TASK_LABELS.taskName]: taskName(t),
      [TASK_LABELS.nodeId]: t.hostId,
      [TASK_LABELS.slot]: String(t.slot),
    },
    ...(task.user !== undefined ? { User: task.user } : {}),
    ...(task.workdir !== undefined ? { WorkingDir: task.workdir } : {}),
    ...(task.hostname !== undefined ? { Hostname: task.hostname } : {}),
    ...(task.healthcheck ? { Healthcheck: task.healthcheck } : {}),
    ...(task.stopSignal ? { StopSignal: task.stopSignal } : {}),
    StopTimeout: Math.ceil(task.stopGracePeriodMs / 1000),
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    HostConfig: {
      // The reconciler restarts tasks (as new tasks, per the service's restart policy), never the agent.
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      Mounts: task.mounts,
      ...(limits.memoryBytes !== undefined ? { Memory: limits.memoryBytes } : {}),
      ...(limits.nanoCpus !== undefined ? { NanoCpus: limits.nanoCpus } : {}),
      ...(limits.pids !== undefined ? { PidsLimit: limits.pids } : {}),
      ...(reservations.memoryBytes !== undefined ? { MemoryReservation: reservations.memoryBytes } : {}),
      ...(Object.keys(portBindings).length ? { PortBindings: portBindings } : {}),
      ...(first ? { NetworkMode: first.target } : {}),
    },
    ...(first
      ? {
          NetworkingConfig: {
            EndpointsConfig: {
              [first.target]: { Aliases: [spec.name, ...first.aliases] },
              ...Object.fromEntries(
                more.map((n) => [n.target, n.target === INGRESS_NETWORK ? {} : { Aliases: [spec.name, ...n.aliases] }]),
              ),
            },
          },
        }
      : {}),
  };
}
