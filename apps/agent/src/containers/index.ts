/** The container layer's front door: containers, exec, health, the event log, and a container's root for the Docker API. */
export { commitContainer, exportContainer } from "./commit.ts";
export type { CommitOptions } from "./commit.ts";
export { EventLog } from "./events.ts";
export { EventOutbox } from "./event-outbox.ts";
export { containerChanges } from "./fs-changes.ts";
export type { FilesystemChange } from "./fs-changes.ts";
export type { AgentEvent } from "./events.ts";
export { ExecConfigSchema, ExecService } from "./exec.ts";
export type { ExecRetention } from "./exec.ts";
export { HealthMonitor } from "./health.ts";
export { parseLinks } from "./links.ts";
export { withContainerRoot } from "./root-access.ts";
export { resolveInRoot } from "./root-path.ts";
export { ContainerService } from "./service.ts";
export type { WaitCondition } from "./service.ts";
