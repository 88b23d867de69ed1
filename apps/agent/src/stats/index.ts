/** The stats layer's front door: cgroup readings, the sampler, the report to the control plane, top. */
export { readContainerStats, systemCpuUsage } from "./cgroup-stats.ts";
export type { ContainerStats } from "./cgroup-stats.ts";
export { containerCounters, statsReports } from "./host-report.ts";
export { StatsSampler } from "./sampler.ts";
export type { Sampled } from "./sampler.ts";
export { topProcesses } from "./top.ts";
