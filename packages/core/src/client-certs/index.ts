export * from "./client-certs.ts";
