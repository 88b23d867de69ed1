/** The Docker Engine API server on the agent's socket. */
export { startDockerApi } from "./server.ts";
export type { DockerApi } from "./server.ts";
