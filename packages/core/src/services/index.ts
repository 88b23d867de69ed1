export * from "./spec.ts";
export * from "./constraints.ts";
export * from "./placement.ts";
export * from "./service-store.ts";
export * from "./task-container.ts";
export * from "./reconciler.ts";
export * from "./orchestrator.ts";
export * from "./service-samples.ts";
