import { Router as DockerRouter } from "@berth/docker-api";
import type { ApiContext } from "./context.ts";

/** The agent's routes: Docker's path templates, handled with the agent's request context. */
export class Router extends DockerRouter<ApiContext> {}
