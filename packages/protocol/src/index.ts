export * from "./facts.ts";
export * from "./frames.ts";
export * from "./join.ts";
export * from "./commands.ts";
export * from "./containers.ts";
export * from "./mounts.ts";
export * from "./ports.ts";
export * from "./streams.ts";
