import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Db } from "@berth/db";
import type { AgentGateway } from "./agent-gateway.ts";

/**
 * The control plane's Prometheus metrics: its process, linked agents, hosts by status, open
 * live streams, requests by API surface, stats samples and webhook deliveries. Each control
 * plane has its own registry (tests run several in one process).
 */
export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "berth_http_requests_total",
    help: "HTTP requests by API surface and status class",
    labelNames: ["surface", "status"] as const,
    registers: [this.registry],
  });
  readonly streamsOpen = new Gauge({
    name: "berth_streams_open",
    help: "Live streams open to browsers and scripts, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly streamMessages = new Counter({
    name: "berth_stream_messages_total",
    help: "Data messages relayed to stream clients, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly statsReports = new Counter({
    name: "berth_stats_reports_total",
    help: "Stats frames taken from agents",
    registers: [this.registry],
  });

  constructor(db: Db, gateway: AgentGateway) {
    collectDefaultMetrics({ register: this.registry, prefix: "berth_cp_" });
    new Gauge({
      name: "berth_agents_connected",
      help: "Agents linked to this control plane",
      registers: [this.registry],
      collect() {
        this.set(gateway.connectedCount());
      },
    });
    new Gauge({
      name: "berth_hosts",
      help: "Hosts by status",
      labelNames: ["status"] as const,
      registers: [this.registry],
      async collect() {
        const rows = await db.host.groupBy({ by: ["status"], _count: { _all: true } });
        this.reset();
        for (const r of rows) this.set({ status: r.status }, r._count._all);
      },
    });
    new Gauge({
      name: "berth_webhook_deliveries",
      help: "Webhook deliveries by state",
      labelNames: ["status"] as const,
      registers: [this.registry],
      async collect() {
        const rows = await db.webhookDelivery.groupBy({ by: ["status"], _count: { _all: true } });
        this.reset();
        for (const r of rows) this.set({ status: r.status }, r._count._all);
      },
    });
  }
}
