/** Prometheus metrics of the agent. */
export { agentMetricsRegistry, metricsToken, serveMetrics } from "./server.ts";
