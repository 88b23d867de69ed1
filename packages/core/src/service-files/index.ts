export * from "./schema.ts";
export * from "./store.ts";
