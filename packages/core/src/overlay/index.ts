export * from "./addressing.ts";
export * from "./overlay-store.ts";
export * from "./overlay-sync.ts";
