export { createFleetDockerHandler, fleetDockerRouter, type FleetDockerOptions } from "./server.ts";
export type { ClusterIdentity } from "./context.ts";
