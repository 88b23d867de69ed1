import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { TLSSocket } from "node:tls";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Duplex } from "node:stream";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { toNodeHandler, fromNodeHeaders } from "better-auth/node";
import { createDb, type Db } from "@berth/db";
import {
  AgentGateway,
  ControlPlaneMetrics,
  FleetEvents,
  InventoryStore,
  StatsIngest,
  WebhookDispatcher,
  ServiceOrchestrator,
  ClientCertificates,
  ServiceFileStore,
  ServiceStore,
  BuildRunner,
  OverlayStore,
  OverlaySync,
  authenticateApiToken,
  createLogger,
  ensureDefaultTeam,
  ensureSetupInvitation,
  isDomainError,
  SecretBox,
  STACK_WEBHOOK_PREFIX,
  StackGitPoller,
  StackStore,
  type AuditChannel,
  getContainerPolicy,
  Leadership,
  PeerLinks,
  PEER_PATH,
  ReplicaRegistry,
} from "@berth/core";
import {
  appRouter,
  createAuth,
  createStreamServer,
  STREAM_PATH_PREFIX,
  createOpenApiNodeHttpHandler,
  gatewayHostOps,
  loadMemberships,
  openApiDocument,
  restRouter,
  tokenMemberships,
  type Auth,
  type Context,
} from "@berth/api";
import { AGENT_PATHS } from "@berth/protocol";
import { insecureWarning, type Env } from "./env.ts";
import { agentJoinRoute } from "./routes/agent-join.ts";
import { stackWebhookRoute } from "./routes/stack-webhook.ts";
import { agentBundleRoute, installScriptRoute } from "./routes/install.ts";
import { clientIp, sendJson } from "./routes/http-util.ts";
import { loadTlsIdentity } from "./tls.ts";
import { startDockerEndpoint, type DockerEndpoint } from "./docker-endpoint.ts";

const repoRoot = join(fileURLToPath(new URL(".", import.meta.url)), "../../../..");
export const DEFAULT_AGENT_BUNDLE = join(repoRoot, "apps/agent/dist/berth-agent.js");
/** The largest request body the API reads (the agent's Docker API takes the same); larger ones get 413. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Calls in one tRPC batch at most (the dashboard batches a handful). */
export const MAX_BATCH = 32;

export interface NextHandlers {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> | void;
  close?(): Promise<void>;
}

export interface ControlPlane {
  server: Server;
  db: Db;
  gateway: AgentGateway;
  /** Every host's events as the control plane follows them (the fleet feed's source). */
  fleetEvents: FleetEvents;
  stats: StatsIngest;
  inventory: InventoryStore;
  auth: Auth;
  url: string;
  fingerprint: string | null;
  /** After listen(): the one-time link that makes the first owner, while nobody owns the install. */
  setupLink: string | null;
  /** After listen(): where the fleet's Docker API listens. */
  docker: DockerEndpoint | null;
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One control-plane process: the tRPC API, better-auth, the agent gateway and install
 * endpoints on one HTTP server, with Next.js behind them for every other path.
 */
export function createControlPlane(env: Env, next?: NextHandlers): ControlPlane {
  const log = createLogger("berth-web");
  const insecure = insecureWarning(env);
  if (insecure) log.warn(insecure);
  const db = createDb(env.DATABASE_URL, { poolSize: 20, keepIdle: true });
  // With TLS, join tokens carry the certificate's fingerprint and agents pin it (Swarm's model).
  const tls = env.TLS_CERT_FILE && env.TLS_KEY_FILE ? loadTlsIdentity(env.TLS_CERT_FILE, env.TLS_KEY_FILE) : null;
  const fingerprint = tls?.fingerprint ?? null;
  // This process among the replicas on the database: commands and streams for agents linked to
  // another process go there over the internal channel (PeerLinks), and theirs come here.
  const replicas = new ReplicaRegistry({
    db,
    logger: log.child({ part: "replicas" }),
    internalUrl: env.BERTH_INTERNAL_URL,
    tlsFingerprint: fingerprint,
  });
  // Jobs one process runs for all (each under its own advisory lock; another takes over within a
  // second of the holder's death). The reconciler and the git poller hold theirs themselves.
  const leaderJob = (name: string) => new Leadership({ connectionString: env.DATABASE_URL, name, logger: log.child({ part: "leader" }) });
  const sweepLeader = leaderJob("offline-sweep");
  const webhookLeader = leaderJob("webhooks");
  const retentionLeader = leaderJob("stats-retention");
  const peers = new PeerLinks({ db, registry: replicas, gateway: (): AgentGateway => gateway, logger: log.child({ part: "peers" }) });
  const gateway = new AgentGateway({
    db,
    logger: log.child({ part: "gateway" }),
    offlineAfterMs: env.BERTH_OFFLINE_AFTER_MS,
    maxFrameBytes: env.BERTH_MAX_FRAME_BYTES,
    replicaId: replicas.id,
    router: peers,
    // A newly elected sweeper waits one offline threshold first: after a database outage (every
    // lock goes with it) the other processes need that long to store their hosts' fresh beats.
    sweepLeads: () => sweepLeader.leadingForMs >= env.BERTH_OFFLINE_AFTER_MS,
  });
  const inventory = new InventoryStore(db, log.child({ part: "inventory" }));
  const stats = new StatsIngest(db, log.child({ part: "stats" }), {
    knows: (hostId, containerId) => inventory.hasContainer(hostId, containerId),
    leads: () => retentionLeader.isLeader,
  });
  const metrics = new ControlPlaneMetrics(db, gateway);
  gateway.on("inventory", (hostId, frame) => inventory.take(hostId, frame));
  gateway.on("stats", (hostId, report) => {
    metrics.statsReports.inc();
    stats.ingest(hostId, report);
  });
  const publicOrigin = new URL(env.PUBLIC_URL).origin;
  const auth = createAuth({
    db,
    secret: env.BETTER_AUTH_SECRET,
    baseURL: env.PUBLIC_URL,
    trustedOrigins: [publicOrigin, `http://127.0.0.1:${env.PORT}`, `http://localhost:${env.PORT}`],
    openSignUp: env.BERTH_OPEN_SIGNUP === "1",
  });
  const authHandler = toNodeHandler(auth);
  const bundlePath = env.BERTH_AGENT_BUNDLE ?? DEFAULT_AGENT_BUNDLE;
  const secretBox = new SecretBox(env.BERTH_SECRET_KEY ?? env.BETTER_AUTH_SECRET);
  // Deliveries are claimed and settled only by the process that leads, fenced on its term.
  const webhooks = new WebhookDispatcher(webhookLeader.fenced(db), secretBox, log.child({ part: "webhooks" }), {
    backoffBaseMs: env.BERTH_WEBHOOK_RETRY_BASE_MS,
    leads: () => webhookLeader.isLeader,
  });
  const fleetEvents = new FleetEvents(db, gateway, log.child({ part: "events" }), {
    queued: () => void webhooks.kick(),
    replicaId: replicas.id,
    connectionString: env.DATABASE_URL,
  });
  // Kept host events older than a week go, on the process that runs the stats retention.
  const eventRetention = setInterval(() => {
    if (retentionLeader.isLeader) fleetEvents.prune().catch((err: unknown) => log.warn({ err }, "host events retention failed"));
  }, 3600_000);
  eventRetention.unref();
  // Services: every process can take changes; the reconciler runs on the one that leads.
  const serviceFiles = new ServiceFileStore(db, new SecretBox(env.BERTH_SECRET_KEY ?? env.BETTER_AUTH_SECRET, "berth/service-secrets/v1"));
  const serviceStore = new ServiceStore(db, serviceFiles);
  const clientCerts = new ClientCertificates(db, new SecretBox(env.BERTH_SECRET_KEY ?? env.BETTER_AUTH_SECRET, "berth/client-ca/v1"));
  // Overlay networks: addresses are allocated here at the agents' request, and every change is pushed to the hosts.
  const overlays = new OverlayStore(db);
  const overlaySync = new OverlaySync({ store: overlays, gateway, logger: log.child({ part: "overlay" }) });
  overlaySync.start();
  // Builds: run by the process that takes them; history and logs are in Postgres for every process.
  const builds = new BuildRunner({
    db,
    gateway,
    registryBox: secretBox,
    gitBox: new SecretBox(env.BERTH_SECRET_KEY ?? env.BETTER_AUTH_SECRET, "berth/git-credentials/v1"),
    secretValues: (teamId, names) => serviceFiles.secretValues(teamId, names),
    logger: log.child({ part: "builds" }),
  });
  // A git poll's deploy of a single-host stack holds its containers to the team's policy, as an operator's would be.
  const stacks = new StackStore(
    db,
    new SecretBox(env.BERTH_SECRET_KEY ?? env.BETTER_AUTH_SECRET, "berth/stack-env/v1"),
    { services: serviceStore, networks: overlays, files: serviceFiles },
    async (host, actor) => gatewayHostOps({ gateway, db, secretBox, builds }, host, await getContainerPolicy(db, host.teamId), actor),
  );
  const stackPoller = new StackGitPoller({
    stacks,
    logger: log.child({ part: "stack-git" }),
    connectionString: env.DATABASE_URL,
    tickMs: env.BERTH_GIT_POLL_TICK_MS,
  });
  gateway.handleRequests("overlay.attach", async (hostId, args) => {
    const answer = await overlays.attach(hostId, args);
    await overlaySync.settled(answer.network.id);
    return answer;
  });
  gateway.handleRequests("overlay.detach", (hostId, args) => overlays.detach(hostId, args));
  gateway.handleRequests("overlay.serving", (hostId, args) => overlays.setServing(hostId, args));
  gateway.handleRequests("overlay.join", (hostId, args) => overlays.join(hostId, args));
  gateway.handleRequests("overlay.mesh", (hostId, args) => overlays.registerMesh(hostId, args));
  gateway.handleRequests("overlay.status", (hostId, args) => overlays.reportStatus(hostId, args));
  // An endpoint whose container ended while its host was unlinked goes at the host's next report.
  inventory.on("containers", (hostId, items) => {
    const running = new Set(
      items.filter((i) => i.state === "running" || i.state === "paused" || i.state === "restarting").map((i) => i.id),
    );
    overlays.dropStale(hostId, running).catch((err) => log.warn({ err, hostId }, "stale overlay endpoints not dropped"));
  });
  // A service's spec names its networks: their hosts learn its name and VIP.
  serviceStore.on("changed", (serviceId) => void overlaySync.serviceChanged(serviceId));
  const orchestrator = new ServiceOrchestrator({
    db,
    gateway,
    events: fleetEvents,
    store: serviceStore,
    secretBox,
    logger: log.child({ part: "reconciler" }),
    connectionString: env.DATABASE_URL,
  });

  /** The audit channel a caller declares (the dashboard and the berth CLI say who they are). */
  function channelOf(req: IncomingMessage): AuditChannel {
    const declared = req.headers["x-berth-channel"];
    return declared === "ui" ? "ui" : declared === "cli" ? "cli" : "trpc";
  }

  /**
   * Who is calling: an API token (Authorization: Bearer berth_…) or else the session cookie.
   * A token that is presented but refused is never downgraded to the cookie or to anonymous.
   */
  async function callerOf(
    req: IncomingMessage,
    channel: AuditChannel,
  ): Promise<Pick<Context, "user" | "token" | "memberships" | "authError">> {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    // The Docker endpoint also takes a client certificate Berth issued (TLS checked its signature and dates).
    const socket = req.socket;
    if (!bearer && channel === "docker" && socket instanceof TLSSocket && socket.authorized) {
      const fingerprint = socket.getPeerCertificate().fingerprint256?.replace(/:/g, "").toLowerCase();
      const user = fingerprint ? await clientCerts.authenticate(fingerprint) : null;
      if (!user) return { user: null, token: null, memberships: [], authError: "this client certificate is revoked, expired or unknown" };
      return { user, token: null, memberships: await loadMemberships(db, user.id) };
    }
    if (bearer) {
      try {
        const token = await authenticateApiToken(db, bearer);
        return { user: null, token, memberships: tokenMemberships(token) };
      } catch (e) {
        if (isDomainError(e) && e.code === "UNAUTHENTICATED") return { user: null, token: null, memberships: [], authError: e.message };
        throw e;
      }
    }
    const session = await auth.api.getSession({ headers: fromNodeHeaders(req.headers) });
    const user = session ? { id: session.user.id, email: session.user.email, name: session.user.name } : null;
    return { user, token: null, memberships: user ? await loadMemberships(db, user.id) : [] };
  }

  async function contextFor(req: IncomingMessage, channel: AuditChannel): Promise<Context> {
    return {
      db,
      gateway,
      ...(await callerOf(req, channel)),
      sourceIp: clientIp(req),
      channel,
      publicUrl: env.PUBLIC_URL,
      fingerprint,
      spkiPin: tls?.spkiPin ?? null,
      secretBox,
      stats,
      services: serviceStore,
      serviceFiles,
      clientCerts,
      overlays,
      stacks,
      builds,
      logger: log,
      dockerEndpoint: docker ? { dockerHost: docker.dockerHost, caPem: tls ? tls.cert.toString("utf8") : null } : null,
    };
  }

  /** Set once listening. */
  let docker: DockerEndpoint | null = null;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: "/api/trpc/",
    // Bounded input: a body of a few MiB at most, and at most a few dozen calls in one batch.
    maxBodySize: MAX_BODY_BYTES,
    maxBatchSize: MAX_BATCH,
    createContext: ({ req }) => contextFor(req, channelOf(req)),
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") log.error({ err: error, path }, "tRPC procedure failed");
    },
  });

  // REST under /api/v1: the same procedures, the same checks; the channel says "rest" in the audit log.
  // The node-http core reads the IncomingMessage itself (body via co-body), so the context sees the socket.
  const restHandler = createOpenApiNodeHttpHandler({
    router: restRouter,
    maxBodySize: MAX_BODY_BYTES,
    createContext: ({ req }: { req: IncomingMessage }) => contextFor(req, channelOf(req) === "cli" ? "cli" : "rest"),
    onError({ error, path }: { error: { code: string }; path?: string }) {
      if (error.code === "INTERNAL_SERVER_ERROR") log.error({ err: error, path }, "REST procedure failed");
    },
  });
  let openApiJson: string | null = null;

  // Live logs, stats, terminals and events for the dashboard and scripts (WebSocket upgrades).
  const streams = createStreamServer({
    contextFor: (req) => contextFor(req, channelOf(req) === "cli" ? "cli" : req.headers.authorization ? "rest" : "ui"),
    allowedOrigins: [new URL(env.PUBLIC_URL).origin],
    logger: log.child({ part: "streams" }),
    metrics,
    fleetEvents,
    recheckMs: env.BERTH_STREAM_RECHECK_MS,
    builds,
  });

  /** Prometheus scrapes with an API token (`authorization: Bearer berth_…`); a session works too. */
  async function metricsRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const caller = await callerOf(req, "rest");
    if (!caller.user && !caller.token) return sendJson(res, 401, { message: caller.authError ?? "sign in or send an API token" });
    res.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
  }

  async function openApiRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const caller = await callerOf(req, "rest");
    if (!caller.user && !caller.token) return sendJson(res, 401, { message: caller.authError ?? "sign in or send an API token" });
    openApiJson ??= JSON.stringify(openApiDocument(env.PUBLIC_URL));
    res.writeHead(200, { "content-type": "application/json" }).end(openApiJson);
  }

  /** Which API surface a request is for, as the request counter labels it. */
  function surfaceOf(path: string): string {
    if (path.startsWith("/api/trpc/")) return "trpc";
    if (path.startsWith("/api/v1")) return "rest";
    if (path.startsWith("/api/auth/")) return "auth";
    if (path.startsWith("/api/")) return "api";
    return "web";
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const surface = surfaceOf(path);
    res.once("finish", () => metrics.requests.inc({ surface, status: `${Math.floor(res.statusCode / 100)}xx` }));
    if (path === "/metrics") return metricsRoute(req, res);
    if (path.startsWith("/api/trpc/")) return trpc(req, res);
    if (path === "/api/v1" || path.startsWith("/api/v1/")) {
      req.url = (req.url ?? "/").slice("/api/v1".length) || "/";
      return restHandler(req, res);
    }
    if (path === "/api/openapi.json") return openApiRoute(req, res);
    if (path.startsWith(STACK_WEBHOOK_PREFIX)) return stackWebhookRoute(req, res, { db, stacks, poller: stackPoller, logger: log });
    if (path.startsWith("/api/auth/")) {
      // better-auth rate-limits per client IP and reads it from this header; set it from the
      // socket (or a loopback proxy) so a client cannot pick its own bucket.
      req.headers["x-forwarded-for"] = clientIp(req) ?? "unknown";
      return authHandler(req, res);
    }
    if (path === AGENT_PATHS.join) return agentJoinRoute(req, res, db, fingerprint, log);
    if (path === AGENT_PATHS.install) return installScriptRoute(req, res, env.PUBLIC_URL);
    if (path === AGENT_PATHS.bundle) return agentBundleRoute(req, res, bundlePath);
    // A process that cannot reach Postgres says so, and a load balancer stops sending it work.
    if (path === "/healthz")
      return replicas.healthy
        ? sendJson(res, 200, { ok: true, replica: replicas.id, agents: gateway.connectedCount() })
        : sendJson(res, 503, { ok: false, replica: replicas.id, reason: "the database cannot be reached" });
    if (next) return next.handle(req, res);
    sendJson(res, 404, { error: "not found" });
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err) => {
      log.error({ err, url: req.url }, "request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createServer(handler);
  server.on("upgrade", (req, socket, head) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === AGENT_PATHS.link) return gateway.handleUpgrade(req, socket, head);
    if (path === PEER_PATH) return peers.handleUpgrade(req, socket, head);
    if (path?.startsWith(STREAM_PATH_PREFIX)) return streams.handleUpgrade(req, socket, head);
    if (next?.upgrade) return void next.upgrade(req, socket, head);
    socket.destroy();
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  server.on("tlsClientError", () => {}); // a client that rejects our certificate is its business

  return {
    server,
    db,
    gateway,
    fleetEvents,
    stats,
    inventory,
    auth,
    url: env.PUBLIC_URL,
    fingerprint,
    setupLink: null,
    docker: null,
    async listen() {
      await ensureDefaultTeam(db);
      const setup = await ensureSetupInvitation(db);
      this.setupLink = setup ? `${env.PUBLIC_URL}/signup?invite=${setup}` : null;
      await replicas.start();
      for (const job of [sweepLeader, webhookLeader, retentionLeader]) job.start();
      gateway.start();
      stats.start();
      webhooks.start();
      fleetEvents.start();
      orchestrator.start();
      stackPoller.start();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(env.PORT, env.HOST, () => resolve());
      });
      this.docker = docker = await startDockerEndpoint({
        env,
        db,
        tls,
        contextFor: (req) => contextFor(req, "docker"),
        clientCaPem: tls ? await clientCerts.caPem() : null,
        logger: log.child({ part: "docker-api" }),
      });
    },
    async close() {
      streams.close();
      await this.docker?.close();
      await orchestrator.stop();
      await stackPoller.stop();
      await gateway.stop();
      await peers.close();
      await replicas.stop();
      for (const job of [sweepLeader, webhookLeader, retentionLeader]) await job.stop();
      await stats.stop();
      fleetEvents.stop();
      clearInterval(eventRetention);
      await webhooks.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await next?.close?.();
      await db.$disconnect();
    },
  };
}
