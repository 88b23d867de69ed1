/** The image layer's front door: the image service, the image store, and the pieces the runtime wires together. */
export { applyChanges } from "./changes.ts";
export type { ImageConfig } from "./config.ts";
export { ImageError } from "./errors.ts";
export { sharedExtractor } from "./extract-pool.ts";
export { serveExtractJobs } from "./extract-worker.ts";
export { ImageStore } from "./image-store.ts";
export { chainIds } from "./layers.ts";
export type { ImageRecord } from "./image-store.ts";
export type { StoredLayer } from "./new-layer.ts";
export type { PullProgress } from "./pull.ts";
export { ImageService } from "./service.ts";
export type { DistributionInspect } from "./service.ts";
export { SnapshotUnpacker } from "./snapshot-unpacker.ts";
export type { LayerUnpacker } from "./unpacker.ts";
