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
