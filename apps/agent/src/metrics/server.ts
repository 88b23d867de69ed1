import { createServer, type Server } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { AgentRuntime } from "../runtime.ts";

/**
 * The agent's Prometheus metrics on `--metrics-listen HOST:PORT`: containers by state, images,
 * volumes, whether the control-plane link is up, and the process. Every scrape needs the bearer
 * token kept in `<state-dir>/metrics-token` (Prometheus: `authorization.credentials_file`).
 */
export function metricsToken(stateDir: string): string {
  const file = join(stateDir, "metrics-token");
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString("hex")}\n`, { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

export function agentMetricsRegistry(rt: AgentRuntime, linked: () => boolean): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "berth_agent_" });
  new Gauge({
    name: "berth_containers",
    help: "Containers by state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const c of rt.containers.store.all()) counts.set(c.state.Status, (counts.get(c.state.Status) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "berth_images",
    help: "Images in the store",
    registers: [registry],
    async collect() {
      this.set((await rt.images.list()).length);
    },
  });
  new Gauge({
    name: "berth_link_connected",
    help: "1 while the control-plane link is up",
    registers: [registry],
    collect() {
      this.set(linked() ? 1 : 0);
    },
  });
  return registry;
}

export async function serveMetrics(o: { registry: Registry; token: string; host: string; port: number }): Promise<Server> {
  const expected = Buffer.from(`Bearer ${o.token}`);
  const server = createServer((req, res) => {
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return void res
        .writeHead(401, { "content-type": "text/plain" })
        .end("a bearer token is required (metrics-token in the agent's state dir)\n");
    if ((req.url ?? "").split("?")[0] !== "/metrics") return void res.writeHead(404).end();
    o.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": o.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return server;
}
