import { router } from "./trpc.ts";
import { authRouter } from "./routers/auth.ts";
import { hostsRouter } from "./routers/hosts.ts";
import { joinTokensRouter } from "./routers/join-tokens.ts";
import { imagesRouter } from "./routers/images.ts";
import { registriesRouter } from "./routers/registries.ts";
import { containersRouter } from "./routers/containers.ts";
import { volumesRouter } from "./routers/volumes.ts";
import { networksRouter } from "./routers/networks.ts";
import { apiTokensRouter } from "./routers/api-tokens.ts";
import { teamsRouter } from "./routers/teams.ts";
import { auditRouter } from "./routers/audit.ts";
import { webhooksRouter } from "./routers/webhooks.ts";
import { fleetRouter } from "./routers/fleet.ts";
import { invitationsRouter } from "./routers/invitations.ts";
import { policiesRouter } from "./routers/policies.ts";
import { servicesRouter } from "./routers/services.ts";
import { overlaysRouter } from "./routers/overlays.ts";
import { configsRouter, secretsRouter } from "./routers/service-files.ts";
import { dockerRouter } from "./routers/docker.ts";
import { buildsRouter } from "./routers/builds.ts";
import { stacksRouter } from "./routers/stacks.ts";

export const appRouter = router({
  auth: authRouter,
  hosts: hostsRouter,
  joinTokens: joinTokensRouter,
  images: imagesRouter,
  registries: registriesRouter,
  containers: containersRouter,
  volumes: volumesRouter,
  networks: networksRouter,
  apiTokens: apiTokensRouter,
  teams: teamsRouter,
  audit: auditRouter,
  webhooks: webhooksRouter,
  fleet: fleetRouter,
  invitations: invitationsRouter,
  policies: policiesRouter,
  services: servicesRouter,
  overlays: overlaysRouter,
  secrets: secretsRouter,
  configs: configsRouter,
  docker: dockerRouter,
  builds: buildsRouter,
  stacks: stacksRouter,
});

export type AppRouter = typeof appRouter;
