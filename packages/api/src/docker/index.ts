export { createFleetDockerHandler, fleetDockerRouter, type FleetDockerHandler, type FleetDockerOptions } from "./server.ts";
export type { ClusterIdentity } from "./context.ts";
