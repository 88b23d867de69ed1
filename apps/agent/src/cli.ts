#!/usr/bin/env node
// berth-agent: join a control plane, then run the host's agent (flags and environment: config.ts).
// A host that never joined runs standalone, as dockerd does: the Docker API socket only.
import { hostname } from "node:os";
import { mkdirSync } from "node:fs";
import { pino, type Logger } from "pino";
import { ConfigError, loadConfig, usageText, type AgentConfig } from "./config.ts";
import { setMountHelper } from "./mount/index.ts";
import { AGENT_VERSION } from "./version.ts";
import { collectHostFacts } from "./facts/index.ts";
import { loadCredential, saveCredential } from "./state/index.ts";
import { joinControlPlane, JoinError } from "./link/index.ts";
import { AgentLink } from "./link/index.ts";
import { agentStreams } from "./streams.ts";
import { statsReports } from "./stats/index.ts";
import { collectInventory, inventoryFrames } from "./inventory.ts";
import { agentCommands } from "./commands.ts";
import { underlayAddress } from "./network/index.ts";
import { createRuntime } from "./runtime.ts";
import { serveAgentWorker } from "./worker-main.ts";
import { startDockerApi, type DockerApi } from "./dockerapi/index.ts";
import { agentMetricsRegistry, metricsToken, serveMetrics } from "./metrics/index.ts";

/** Exit status for a configuration problem (sysexits EX_CONFIG); the systemd unit does not restart on it. */
const EX_CONFIG = 78;

function readConfig(): AgentConfig {
  try {
    return loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(
      e.showUsage ? `berth-agent: ${e.message}\n${usageText()}` : `berth-agent: ${e.message} (berth-agent --help lists every flag)\n`,
    );
    process.exit(2);
  }
}

// Set before main runs (not at import: worker threads load this same bundle and have no flags).
let logger: Logger;

async function runAgent(c: AgentConfig): Promise<never> {
  const { stateDir, dockerSocket, dockerTcp, metrics } = c;
  const credential = loadCredential(stateDir);
  setMountHelper(c.mountHelper);
  // Bridge networking is on unless BERTH_NETWORKING=0 (then containers get `none` or `host`).
  const runtime = createRuntime(stateDir, {
    mirrors: c.mirrors,
    insecureRegistries: c.insecureRegistries,
    ...(c.cgroupParent ? { cgroupParent: c.cgroupParent } : {}),
    ...(c.networking ? { networking: {} } : {}),
    ...(c.buildContextLimit ? { buildContextLimit: c.buildContextLimit } : {}),
  });
  if (runtime.networks) {
    try {
      await runtime.networks.init();
    } catch (err) {
      logger.fatal({ err }, "could not set up bridge networking (ip, nftables); BERTH_NETWORKING=0 runs the agent without it");
      process.exit(1);
    }
  }
  // Re-adopt the containers that kept running while the agent was down before taking commands.
  await runtime.containers.init();
  runtime.health.start();
  let api: DockerApi | undefined;
  if (dockerSocket) {
    try {
      api = await startDockerApi({ runtime, socketPath: dockerSocket, logger, stateDir, ...(dockerTcp ? { tcp: dockerTcp } : {}) });
    } catch (err) {
      // A joined agent still serves its control plane; a standalone one has nothing else to do.
      if (!credential) {
        logger.fatal({ err, socket: dockerSocket }, "cannot serve the Docker API there; --docker-socket PATH picks another place");
        process.exit(EX_CONFIG);
      }
      logger.error(
        { err, socket: dockerSocket },
        "cannot serve the Docker API there; carrying on without it (--docker-socket PATH picks another place, '' turns it off)",
      );
    }
  }
  let link: AgentLink | undefined;
  if (metrics) {
    try {
      await serveMetrics({
        registry: agentMetricsRegistry(runtime, () => link?.linked ?? false),
        token: metricsToken(stateDir),
        ...metrics,
      });
      logger.info({ listen: metrics, tokenFile: `${stateDir}/metrics-token` }, "serving Prometheus metrics");
    } catch (err) {
      logger.error({ err, listen: metrics }, "cannot serve metrics there; carrying on without them");
    }
  }
  if (!credential) {
    if (!api) {
      logger.error(
        { stateDir },
        "this host has not joined a control plane and the Docker API is off; run `berth-agent join --url URL --token TOKEN`",
      );
      process.exit(EX_CONFIG);
    }
    logger.info({ stateDir }, "running standalone (not joined to a control plane)");
    await new Promise<void>((resolve) => {
      for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
    });
    await api.close();
    process.exit(0);
  }
  link = new AgentLink({
    credential,
    agentVersion: AGENT_VERSION,
    logger,
    collectFacts: () => collectHostFacts(stateDir),
    commands: agentCommands(runtime),
    streams: agentStreams(runtime),
    collectStats: () => statsReports(runtime.containers.statsCounters()),
    collectInventory: async (sent) => inventoryFrames(await collectInventory(runtime), sent),
    onEventsAck: (stream, seq) => runtime.outbox.ack(stream, seq),
  });
  // Overlay networks: the control plane allocates their addresses and lists every endpoint. The
  // VTEP is worked out again at each link (the link may leave from another address after a re-link).
  const linked = link;
  const vtep: { current: string | null } = { current: c.vtep ?? null };
  const findVtep = () =>
    void underlayAddress(c.vtep, linked.localAddress)
      .then((a) => (vtep.current = a))
      .catch((err) => logger.warn({ err }, "no underlay address for overlay networks (--vtep names one)"));
  runtime.networks?.setControlPlane({
    attach: (args) => linked.request("overlay.attach", args),
    detach: async (args) => void (await linked.request("overlay.detach", args)),
    serving: async (args) => void (await linked.request("overlay.serving", args)),
    join: (args) => linked.request("overlay.join", args),
    mesh: (args) => linked.request("overlay.mesh", args),
    status: async (args) => void (await linked.request("overlay.status", args)),
    // Until the lookup answers, the link's own address when it is not loopback.
    vtep: () => vtep.current ?? (linked.localAddress?.startsWith("127.") ? null : linked.localAddress),
  });
  // A task that turns unhealthy stops taking traffic on every host; one that turns healthy starts.
  runtime.events.subscribe((e) => {
    if (e.Action === "health_status: healthy" || e.Action === "health_status: unhealthy")
      runtime.networks?.containerServing(e.Actor.ID, e.Action === "health_status: healthy");
  });
  // Inventory changes with lifecycle events; exec events (three per health probe) and attaches change nothing in it.
  runtime.events.subscribe((e) => {
    if (!e.Action.startsWith("exec_") && e.Action !== "attach") link?.nudgeInventory();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => link?.stop());
  link.onLinked(findVtep);
  link.start();
  // The Docker API keeps serving while the control plane is unreachable; it ends with the agent.
  const end = await link.done;
  await api?.close();
  process.exit(end === "refused" ? EX_CONFIG : 0);
}

async function main(config: AgentConfig): Promise<void> {
  if (config.command === "help") {
    process.stdout.write(usageText());
    return;
  }
  if (config.command === "version") {
    process.stdout.write(`berth-agent ${AGENT_VERSION}\n`);
    return;
  }
  const { stateDir } = config;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  if (config.command === "join") {
    // Joining twice is a no-op, so a restarted container or unit can always run the same command.
    const existing = loadCredential(stateDir);
    if (existing) {
      logger.info({ hostId: existing.hostId, url: existing.url }, "already joined; using the stored credential");
    } else {
      const { urls, token, name } = config.join;
      if (!urls || !token) {
        process.stderr.write("berth-agent join needs --url and --token\n");
        process.exit(2);
      }
      try {
        const cred = await joinControlPlane({
          urls,
          token,
          name: name ?? hostname().split(".")[0] ?? "host",
          agentVersion: AGENT_VERSION,
          facts: await collectHostFacts(stateDir),
        });
        saveCredential(stateDir, cred);
        logger.info({ hostId: cred.hostId, hostName: cred.name }, "joined the control plane");
      } catch (e) {
        process.stderr.write(`berth-agent: ${e instanceof JoinError || e instanceof Error ? e.message : String(e)}\n`);
        process.exit(EX_CONFIG);
      }
    }
    if (!config.join.runAfter) return;
  }
  await runAgent(config);
}

// The bundle is one file, so its worker threads are started from it too.
if (!serveAgentWorker()) {
  const config = readConfig();
  logger = pino({ name: "berth-agent", level: config.logLevel });
  main(config).catch((err) => {
    logger.fatal({ err }, "agent crashed");
    process.exit(1);
  });
}
