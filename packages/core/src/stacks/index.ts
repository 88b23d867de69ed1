export * from "./compose/index.ts";
export { type FleetPlan, FleetPlanError, planFleet, STACK_LABEL } from "./fleet-plan.ts";
export {
  deployFleetStack,
  type FleetDeployOptions,
  type FleetDeployResult,
  type FleetStores,
  removeFleetStack,
  StackDeployError,
} from "./fleet-deploy.ts";
export * from "./stack-store.ts";
export { DEFAULT_POLL_SECONDS, readGitStack, type StackGitSource, StackGitSourceSchema } from "./git-source.ts";
export {
  type PushCheck,
  type PushEvent,
  type PushProvider,
  pushMoves,
  readPush,
  STACK_WEBHOOK_PREFIX,
  stackWebhookPath,
  verifyPush,
} from "./push-webhook.ts";
export { StackGitPoller } from "./git-poller.ts";
export {
  deployHostStack,
  type HostContainer,
  type HostContainerState,
  HostDeployError,
  type HostDeployOptions,
  type HostDeployResult,
  type HostOps,
  removeHostStack,
  stopHostStack,
} from "./host-deploy.ts";
export { COMPOSE_NUMBER, COMPOSE_ONEOFF, COMPOSE_PROJECT, COMPOSE_SERVICE, type HostPlan, HostPlanError, planHost } from "./host-plan.ts";
export {
  composeFromContainers,
  type ImageDefaults,
  ImageDefaultsSchema,
  type InspectedContainer,
  InspectedContainerSchema,
} from "./adopt-host.ts";
export { composeFromServices } from "./adopt-fleet.ts";
