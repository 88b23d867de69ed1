export { appRouter, type AppRouter } from "./root.ts";
export { createCallerFactory } from "./trpc.ts";
export { createAuth, type Auth } from "./auth.ts";
export { loadMemberships, tokenMemberships, type Context, type SessionUser, type Membership } from "./context.ts";
export { installCommand } from "./routers/join-tokens.ts";
export { restRouter, openApiDocument } from "./rest.ts";
export { createOpenApiNodeHttpHandler } from "trpc-to-openapi";
export { createStreamServer, STREAM_PATH_PREFIX } from "./streams.ts";
export { createFleetDockerHandler, type FleetDockerHandler, type FleetDockerOptions, type ClusterIdentity } from "./docker/index.ts";
