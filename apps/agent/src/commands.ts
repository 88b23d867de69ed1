// The agent's command table: each control-plane command validated with its schema from
// @berth/protocol, then handed to the layer that owns it. Each handler's return type is checked
// at compile time against the command's reply schema (CommandReplies), and its progress against
// CommandProgressItems, so the agent cannot drift from what the control plane accepts.
import {
  checkEntry,
  CommandArgs,
  CommandReplies,
  parseEntry,
  type CommandName,
  type CommandProgressInput,
  type CommandReply,
  type CommandReplyInput,
  type RegistryAccess,
} from "@berth/protocol";
import type { LogEntry } from "./logs/index.ts";
import { logText } from "./streams.ts";
import { ZodError, type z } from "zod";
import type { CommandHandler } from "./link/index.ts";
import { type RegistryClient, RegistryError } from "./registry/index.ts";
import { parsePlatform } from "./registry/index.ts";
import { InvalidReferenceError, parseReference } from "./registry/index.ts";
import { NetworkError } from "./network/index.ts";
import { AgentError } from "./errors.ts";
import type { AgentRuntime } from "./runtime.ts";
import { AGENT_VERSION } from "./version.ts";

/**
 * The command edge: what a handler throws, as the AgentError whose code the link replies with.
 * A registry's 404 is still the registry's answer here (REGISTRY), and an operation refused on a
 * predefined network is a conflict with its state, not a matter of the caller's rights.
 */
function asCommandError(e: unknown): unknown {
  if (e instanceof ZodError)
    return new AgentError(`invalid arguments: ${e.issues.map((i) => `${i.path.join(".") || "args"}: ${i.message}`).join("; ")}`, "INVALID");
  if (e instanceof InvalidReferenceError) return new AgentError(e.message, "INVALID");
  if (e instanceof RegistryError) return new AgentError(e.message, "REGISTRY");
  if (e instanceof NetworkError && e.code === "FORBIDDEN") return new AgentError(e.message, "CONFLICT");
  return e;
}

/** A handler's view of its command's context: progress items typed for that command. */
interface TypedContext<C extends CommandName> {
  progress(item: CommandProgressInput<C>): void;
}

function handler<C extends CommandName>(
  name: C,
  fn: (args: z.output<(typeof CommandArgs)[C]>, ctx: TypedContext<C>) => Promise<CommandReplyInput<C>>,
): [C, CommandHandler] {
  return [
    name,
    async (raw, ctx) => {
      try {
        return await fn(parseEntry(CommandArgs, name, raw), ctx);
      } catch (e) {
        throw asCommandError(e);
      }
    },
  ];
}

/**
 * Some layers return Docker documents as Record<string, unknown>; those are checked against the
 * reply schema here, so the type is earned rather than asserted. A mismatch is an agent bug.
 */
function conform<C extends CommandName>(name: C, value: unknown): CommandReply<C> {
  const checked = checkEntry(CommandReplies, name, value);
  if (!checked.ok) throw new AgentError(`the agent's ${name} reply does not match the protocol: ${checked.reason}`, "FAILED");
  return checked.value;
}

/** A registry client for one pull or push, with the access the control plane handed over. */
function registryFor(rt: AgentRuntime, reference: string, access: RegistryAccess): RegistryClient {
  const domain = parseReference(reference).domain;
  return rt.registryClient((d) =>
    d === domain && access
      ? {
          ...(access.insecure !== undefined ? { insecure: access.insecure } : {}),
          credentials: access.username ? { username: access.username, password: access.password ?? "" } : null,
        }
      : {},
  );
}

const ok = (_: unknown): { ok: true } => ({ ok: true });
const LOG_REPLY_BYTES = 768 * 1024;

export function agentCommands(rt: AgentRuntime): Record<string, CommandHandler> {
  const networks = () => {
    if (!rt.networks) throw new AgentError("bridge networking is not enabled on this agent (BERTH_NETWORKING=0)", "INVALID");
    return rt.networks;
  };
  return Object.fromEntries([
    handler("ping", async () => ({ pong: true, at: Date.now(), agentVersion: AGENT_VERSION })),
    handler("images.list", (a) => rt.images.list(a.dangling === undefined ? {} : { dangling: a.dangling })),
    handler("images.inspect", async (a) => conform("images.inspect", await rt.images.inspect(a.name))),
    handler("images.history", (a) => rt.images.history(a.name)),
    handler("images.distribution", (a) => rt.imagesWith(registryFor(rt, a.reference, a.registry)).distribution(a.reference)),
    handler("images.pull", async (a, ctx) => {
      const img = await rt.imagesWith(registryFor(rt, a.reference, a.registry)).pull(a.reference, {
        ...(a.platform ? { platform: parsePlatform(a.platform) } : {}),
        onProgress: (p) => ctx.progress(p),
      });
      return { id: img.id, repoTags: img.repoTags, repoDigests: img.repoDigests, size: img.size };
    }),
    handler("images.push", async (a, ctx) => rt.imagesWith(registryFor(rt, a.name, a.registry)).push(a.name, (p) => ctx.progress(p))),
    handler("images.tag", async (a) => {
      rt.images.tag(a.source, a.target);
      return { ok: true };
    }),
    handler("images.remove", (a) => rt.images.remove(a.name, { force: a.force })),
    handler("images.prune", (a) => rt.images.prune({ all: a.all })),

    handler("containers.list", async (a) => rt.containers.list({ all: a.all })),
    handler("containers.create", (a) =>
      rt.containers.create(a.config, a.name, {
        ...(a.bindPrefixes ? { bindPrefixes: a.bindPrefixes } : {}),
        ...(a.files ? { files: a.files } : {}),
      }),
    ),
    handler("containers.start", async (a) => ok(await rt.containers.start(a.id))),
    handler("containers.resize", async (a) => ok(rt.containers.resize(a.id, a.h, a.w))),
    handler("containers.stop", async (a) => ok(await rt.containers.stop(a.id, a.timeout, a.signal))),
    handler("containers.restart", async (a) => ok(await rt.containers.restart(a.id, a.timeout))),
    handler("containers.kill", async (a) => ok(await rt.containers.kill(a.id, a.signal))),
    handler("containers.pause", async (a) => ok(await rt.containers.pause(a.id))),
    handler("containers.unpause", async (a) => ok(await rt.containers.unpause(a.id))),
    handler("containers.remove", async (a) => ok(await rt.containers.remove(a.id, { force: a.force }))),
    handler("containers.rename", async (a) => ok(rt.containers.rename(a.id, a.name))),
    handler("containers.update", (a) => rt.containers.update(a.id, a.hostConfig)),
    handler("containers.inspect", async (a) => rt.containers.inspect(a.id)),
    handler("volumes.list", async (a) =>
      rt.volumes
        .list({ ...(a.dangling !== undefined ? { dangling: a.dangling } : {}), ...(a.label ? { label: a.label } : {}) })
        .map((v) => ({ ...v, UsedBy: rt.containers.volumeUsers(v.Name) })),
    ),
    handler("volumes.create", async (a) => rt.volumes.create({ ...(a.name ? { Name: a.name } : {}), Labels: a.labels ?? null })),
    handler("volumes.inspect", async (a) => ({ ...rt.volumes.inspect(a.name), UsedBy: rt.containers.volumeUsers(a.name) })),
    handler("volumes.remove", async (a) => ok(rt.volumes.remove(a.name, { force: a.force }))),
    handler("volumes.prune", async (a) => rt.volumes.prune({ all: a.all })),
    handler("networks.list", async () => conform("networks.list", networks().list())),
    handler("networks.inspect", async (a) => conform("networks.inspect", networks().inspect(a.id))),
    handler("networks.create", (a) =>
      networks().create({
        Name: a.name,
        Internal: a.internal,
        Labels: a.labels ?? null,
        ...(a.icc ? {} : { Options: { "com.docker.network.bridge.enable_icc": "false" } }),
        ...(a.subnet
          ? {
              IPAM: {
                Config: [{ Subnet: a.subnet, ...(a.gateway ? { Gateway: a.gateway } : {}), ...(a.ipRange ? { IPRange: a.ipRange } : {}) }],
              },
            }
          : {}),
      }),
    ),
    handler("networks.remove", async (a) => ok(await networks().remove(a.id))),
    handler("networks.prune", () => networks().prune()),
    handler("overlay.sync", async (a) => ok(await networks().syncOverlays(a))),
    handler("networks.connect", async (a) =>
      ok(
        await rt.containers.connect(a.id, a.container, {
          ...(a.ip ? { IPAMConfig: { IPv4Address: a.ip } } : {}),
          ...(a.aliases ? { Aliases: a.aliases } : {}),
        }),
      ),
    ),
    handler("networks.disconnect", async (a) => ok(await rt.containers.disconnect(a.id, a.container))),
    handler("containers.logs", async (a) => {
      const lines: Array<{ entry: LogEntry; size: number }> = [];
      let bytes = 0;
      for await (const e of rt.containers.logs(a.id, {
        tail: a.tail,
        stdout: a.stdout,
        stderr: a.stderr,
        ...(a.since !== undefined ? { since: a.since } : {}),
        ...(a.until !== undefined ? { until: a.until } : {}),
      })) {
        // Long lines are cut as in a stream, so one line never fills the reply alone.
        const { text, size } = logText(e.line);
        lines.push({ entry: { ...e, line: text }, size: size + 128 });
        bytes += size + 128;
        // A reply is one link frame (1 MiB of encoded JSON at most): keep the newest lines that fit.
        while (bytes > LOG_REPLY_BYTES && lines.length > 0) bytes -= lines.shift()!.size;
      }
      return lines.map((l) => l.entry);
    }),
    handler("containers.top", (a) => rt.containers.top(a.id)),
    handler("containers.stats", (a) => rt.containers.stats(a.id)),
  ]);
}
