#!/usr/bin/env node
// berth-agent: join a control plane, then run the host's agent.
//   berth-agent join --url URL --token TOKEN [--name NAME] [--state-dir DIR] [--no-run]
//   berth-agent run [--state-dir DIR] [--docker-socket PATH]
// A host that never joined runs standalone, as dockerd does: the Docker API socket only.
import { parseArgs } from "node:util";
import { hostname } from "node:os";
import { mkdirSync } from "node:fs";
import { pino } from "pino";
import { z } from "zod";
import { AGENT_VERSION } from "./version.ts";
import { collectHostFacts } from "./facts/host-facts.ts";
import { loadCredential, saveCredential } from "./state/credential-store.ts";
import { joinControlPlane, JoinError } from "./link/join.ts";
import { AgentLink } from "./link/agent-link.ts";
import { agentStreams } from "./streams.ts";
import { statsReports } from "./stats/host-report.ts";
import { collectInventory, inventoryFrames } from "./inventory.ts";
import { agentCommands } from "./commands.ts";
import { createRuntime } from "./runtime.ts";
import { serveAgentWorker } from "./worker-main.ts";
import { startDockerApi, type DockerApi } from "./dockerapi/server.ts";
import { agentMetricsRegistry, metricsToken, serveMetrics } from "./metrics/server.ts";

/** Exit status for a configuration problem (sysexits EX_CONFIG); the systemd unit does not restart on it. */
const EX_CONFIG = 78;

const logger = pino({ name: "berth-agent", level: process.env.LOG_LEVEL ?? "info" });

const ArgsSchema = z.object({
  url: z.url({ protocol: /^https?$/, error: "--url must be an http(s) URL" }).optional(),
  token: z.string().min(1).optional(),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "--name may contain letters, digits, '.', '_' and '-'").optional(),
  "state-dir": z.string().min(1).default(process.env.BERTH_STATE_DIR ?? "/var/lib/berth"),
  "no-run": z.boolean().default(false),
  /** Docker Hub pull-through mirrors, as dockerd's --registry-mirror. */
  "registry-mirror": z
    .array(z.url({ protocol: /^https?$/, error: "--registry-mirror must be an http(s) URL" }))
    .default(process.env.BERTH_REGISTRY_MIRRORS ? process.env.BERTH_REGISTRY_MIRRORS.split(",").filter(Boolean) : []),
  /** Registries (host:port) spoken to over plain HTTP, as dockerd's --insecure-registry. */
  "insecure-registry": z
    .array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "--insecure-registry takes host[:port]"))
    .default(process.env.BERTH_INSECURE_REGISTRIES ? process.env.BERTH_INSECURE_REGISTRIES.split(",").filter(Boolean) : []),
  /** Where the Docker Engine API listens; an empty value turns it off. */
  "docker-socket": z
    .string()
    .max(100, "--docker-socket must be a path of at most 100 bytes (unix socket limit)")
    .regex(/^$|^\//, "--docker-socket must be an absolute path")
    .default(process.env.BERTH_DOCKER_SOCKET ?? "/run/berth/docker.sock"),
  /** Also serve the Docker API on TCP, only with TLS and client certificates (dockerd's --tlsverify). */
  "docker-tls-listen": z.string().regex(/^[0-9A-Za-z.:[\]-]+:\d{1,5}$/, "--docker-tls-listen takes HOST:PORT").optional(),
  "docker-tls-cert": z.string().min(1).optional(),
  "docker-tls-key": z.string().min(1).optional(),
  "docker-tls-ca": z.string().min(1).optional(),
  /** Prometheus metrics on HOST:PORT, behind the bearer token in <state-dir>/metrics-token. */
  "metrics-listen": z
    .string()
    .regex(/^[0-9A-Za-z.:[\]-]+:\d{1,5}$/, "--metrics-listen takes HOST:PORT")
    .optional(),
});

function usage(): never {
  process.stderr.write(
    "usage:\n  berth-agent join --url URL --token TOKEN [--name NAME] [--state-dir DIR] [--no-run] [--docker-socket PATH]\n  berth-agent run [--state-dir DIR] [--registry-mirror URL]… [--insecure-registry HOST:PORT]… [--docker-socket PATH] [--docker-tls-listen HOST:PORT --docker-tls-cert F --docker-tls-key F --docker-tls-ca F]\n  berth-agent version\n",
  );
  process.exit(2);
}

type DockerTcp = { host: string; port: number; cert: string; key: string; ca: string };

async function runAgent(stateDir: string, mirrors: string[], insecureRegistries: string[], dockerSocket: string, dockerTcp: DockerTcp | undefined, metricsListen: string | undefined): Promise<never> {
  const credential = loadCredential(stateDir);
  // Bridge networking is on unless BERTH_NETWORKING=0 (then containers get `none` or `host`).
  const networking = process.env.BERTH_NETWORKING !== "0";
  const runtime = createRuntime(stateDir, { mirrors, insecureRegistries, ...(process.env.BERTH_CGROUP_PARENT ? { cgroupParent: process.env.BERTH_CGROUP_PARENT } : {}), ...(networking ? { networking: {} } : {}) });
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
      logger.error({ err, socket: dockerSocket }, "cannot serve the Docker API there; carrying on without it (--docker-socket PATH picks another place, '' turns it off)");
    }
  }
  let link: AgentLink | undefined;
  if (metricsListen) {
    const at = metricsListen.lastIndexOf(":");
    const host = metricsListen.slice(0, at).replace(/^\[|\]$/g, "");
    try {
      await serveMetrics({ registry: agentMetricsRegistry(runtime, () => link?.linked ?? false), token: metricsToken(stateDir), host, port: Number(metricsListen.slice(at + 1)) });
      logger.info({ listen: metricsListen, tokenFile: `${stateDir}/metrics-token` }, "serving Prometheus metrics");
    } catch (err) {
      logger.error({ err, listen: metricsListen }, "cannot serve metrics there; carrying on without them");
    }
  }
  if (!credential) {
    if (!api) {
      logger.error({ stateDir }, "this host has not joined a control plane and the Docker API is off; run `berth-agent join --url URL --token TOKEN`");
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
  });
  runtime.events.subscribe(() => link?.nudgeInventory());
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => link?.stop());
  link.start();
  // The Docker API keeps serving while the control plane is unreachable; it ends with the agent.
  const end = await link.done;
  await api?.close();
  process.exit(end === "refused" ? EX_CONFIG : 0);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === "version" || cmd === "--version") {
    process.stdout.write(`berth-agent ${AGENT_VERSION}\n`);
    return;
  }
  if (cmd !== "join" && cmd !== "run") usage();
  let raw;
  try {
    raw = parseArgs({
      args: rest,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        name: { type: "string" },
        "state-dir": { type: "string" },
        "no-run": { type: "boolean" },
        "registry-mirror": { type: "string", multiple: true },
        "docker-socket": { type: "string" },
        "insecure-registry": { type: "string", multiple: true },
        "docker-tls-listen": { type: "string" },
        "docker-tls-cert": { type: "string" },
        "docker-tls-key": { type: "string" },
        "docker-tls-ca": { type: "string" },
        "metrics-listen": { type: "string" },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    usage();
  }
  const parsed = ArgsSchema.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`berth-agent: ${parsed.error.issues.map((i) => i.message).join("; ")}\n`);
    process.exit(2);
  }
  const args = parsed.data;
  const stateDir = args["state-dir"];
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  if (cmd === "join") {
    // Joining twice is a no-op, so a restarted container or unit can always run the same command.
    const existing = loadCredential(stateDir);
    if (existing) {
      logger.info({ hostId: existing.hostId, url: existing.url }, "already joined; using the stored credential");
    } else {
      if (!args.url || !args.token) {
        process.stderr.write("berth-agent join needs --url and --token\n");
        process.exit(2);
      }
      try {
        const cred = await joinControlPlane({
          url: args.url,
          token: args.token,
          name: args.name ?? hostname().split(".")[0] ?? "host",
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
    if (args["no-run"]) return;
  }
  let dockerTcp: DockerTcp | undefined;
  if (args["docker-tls-listen"]) {
    const { "docker-tls-cert": cert, "docker-tls-key": key, "docker-tls-ca": ca } = args;
    if (!cert || !key || !ca) {
      process.stderr.write("berth-agent: --docker-tls-listen needs --docker-tls-cert, --docker-tls-key and --docker-tls-ca (TCP is served only with client certificates)\n");
      process.exit(2);
    }
    const at = args["docker-tls-listen"].lastIndexOf(":");
    dockerTcp = { host: args["docker-tls-listen"].slice(0, at).replace(/^\[|\]$/g, ""), port: Number(args["docker-tls-listen"].slice(at + 1)), cert, key, ca };
  }
  await runAgent(stateDir, args["registry-mirror"], args["insecure-registry"], args["docker-socket"], dockerTcp, args["metrics-listen"] ?? (process.env.BERTH_METRICS_LISTEN || undefined));
}

// The bundle is one file, so its worker threads are started from it too.
if (!serveAgentWorker()) {
  main().catch((err) => {
    logger.fatal({ err }, "agent crashed");
    process.exit(1);
  });
}
