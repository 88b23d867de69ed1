import type { Db } from "@berth/db";
import {
  type Actor,
  type AgentGateway,
  type BuildRunner,
  DomainError,
  COMPOSE_PROJECT,
  type ContainerPolicyRules,
  enforceContainerPolicy,
  type HostContainer,
  type HostOps,
  isDomainError,
  registryAccessFor,
  type SecretBox,
} from "@berth/core";
import { containerConfigFromDocker } from "@berth/docker-api";
import { ContainerConfigSchema } from "@berth/protocol";
import { parseReference } from "@berth/protocol/reference";
import { z } from "zod";

/** A compose project's containers on a host (found by compose's project label), running ones only unless `all`. */
export async function projectContainers(gateway: AgentGateway, hostId: string, project: string, all = true): Promise<HostContainer[]> {
  const listed = await gateway.command(hostId, "containers.list", { all });
  return listed
    .filter((c) => c.Labels?.[COMPOSE_PROJECT] === project)
    .map((c) => ({ id: c.Id, name: (c.Names[0] ?? c.Id).replace(/^\//, ""), state: c.State, labels: c.Labels ?? {} }));
}

/** The part of an image's inspect that says what built it. */
const ImageLabelsSchema = z.looseObject({ Config: z.looseObject({ Labels: z.record(z.string(), z.string()).nullish() }).nullish() });

/** Pulls of large images take a while. */
const PULL_TIMEOUT_MS = 30 * 60_000;
/** Removing a running container waits for its stop. */
const REMOVE_TIMEOUT_MS = 10 * 60_000;

/**
 * A single-host stack's way to its host: the agent's commands over the gateway. Every container
 * is checked against the team's container policy (`policy`; null for a caller it does not bind)
 * before it is created, and the agent checks bind sources again with links resolved. Images are
 * pulled with the team's registry credentials.
 */
export function gatewayHostOps(
  deps: { gateway: AgentGateway; db: Db; secretBox: SecretBox; builds?: BuildRunner | undefined },
  host: { id: string; teamId: string },
  policy: ContainerPolicyRules | null,
  actor: Actor,
): HostOps & { removeNetwork(name: string): Promise<void>; removeVolume(name: string): Promise<void> } {
  const { gateway } = deps;
  const hostId = host.id;
  const inspectImage = async (name: string) => {
    try {
      return await gateway.command(hostId, "images.inspect", { name });
    } catch (e) {
      if (isDomainError(e) && e.code === "NOT_FOUND") return null;
      throw e;
    }
  };
  return {
    containers: (project) => projectContainers(gateway, hostId, project),
    async state(id) {
      const c = await gateway.command(hostId, "containers.inspect", { id });
      return { status: c.State.Status, running: c.State.Running, exitCode: c.State.ExitCode, health: c.State.Health?.Status ?? null };
    },
    async create(name, body) {
      const config = ContainerConfigSchema.parse(containerConfigFromDocker(body, "bridge"));
      if (policy) enforceContainerPolicy(policy, config);
      const created = await gateway.command(hostId, "containers.create", {
        name,
        config,
        ...(policy ? { bindPrefixes: policy.bindPrefixes } : {}),
      });
      return created.Id;
    },
    async start(id) {
      await gateway.command(hostId, "containers.start", { id });
    },
    async stop(id) {
      await gateway.command(hostId, "containers.stop", { id }, { timeoutMs: REMOVE_TIMEOUT_MS });
    },
    async remove(id) {
      await gateway.command(hostId, "containers.remove", { id, force: true }, { timeoutMs: REMOVE_TIMEOUT_MS });
    },
    async connect(network, container, aliases) {
      await gateway.command(hostId, "networks.connect", { id: network, container, aliases });
    },
    async networkNames() {
      return (await gateway.command(hostId, "networks.list", {})).map((n) => n.Name);
    },
    async createNetwork(n) {
      await gateway.command(hostId, "networks.create", { name: n.name, internal: n.internal, icc: true, labels: n.labels });
    },
    async removeNetwork(name) {
      await gateway.command(hostId, "networks.remove", { id: name });
    },
    async volumeNames() {
      return (await gateway.command(hostId, "volumes.list", {})).map((v) => v.Name);
    },
    async createVolume(v) {
      await gateway.command(hostId, "volumes.create", { name: v.name, labels: v.labels });
    },
    async removeVolume(name) {
      await gateway.command(hostId, "volumes.remove", { name, force: false });
    },
    async hasImage(reference) {
      return (await inspectImage(reference)) !== null;
    },
    async imageLabels(reference) {
      const image = await inspectImage(reference);
      return image ? (ImageLabelsSchema.parse(image).Config?.Labels ?? {}) : null;
    },
    async pull(reference) {
      const registry = await registryAccessFor(deps.db, deps.secretBox, host.teamId, parseReference(reference).domain);
      await gateway.command(hostId, "images.pull", { reference, registry }, { timeoutMs: PULL_TIMEOUT_MS });
    },
    // Recorded as any build is (the Builds page has its log), and run by this process.
    async build(b, context) {
      if (!deps.builds) throw new DomainError("UNAVAILABLE", "this control-plane process runs no builds");
      const row = await deps.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { name: true } });
      const { id, done } = await deps.builds.startFromStream(
        host.teamId,
        row.name,
        {
          hostId,
          tags: [b.tag],
          ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
          buildArgs: b.args,
          labels: b.labels,
          ...(b.target ? { target: b.target } : {}),
          noCache: b.noCache,
          pull: b.pull,
        },
        context.tar,
        actor,
        () => undefined,
        context.origin,
      );
      const outcome = await done;
      if (outcome.status !== "succeeded")
        throw new DomainError("INVALID", `build ${id} of ${b.service} ${outcome.status}: ${outcome.error ?? ""}`);
    },
  };
}
