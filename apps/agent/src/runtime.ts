// The agent's runtime stack on one host, assembled from its layers (ARCHITECTURE.md, "Agent layers").
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { ContentStore } from "./content/store.ts";
import { RegistryClient } from "./registry/client.ts";
import { ImageStore } from "./images/image-store.ts";
import { ImageService } from "./images/service.ts";
import type { LayerUnpacker } from "./images/unpacker.ts";
import { SnapshotUnpacker } from "./images/snapshot-unpacker.ts";
import { sharedExtractor } from "./images/extract-pool.ts";
import type { LayerExtractor } from "./images/layer-extract.ts";
import { Snapshotter } from "./snapshots/index.ts";

export interface AgentRuntime {
  deps: { content: ContentStore; unpacker: LayerUnpacker; extractor: LayerExtractor; images: ImageStore; registry: RegistryClient };
  snapshots: Snapshotter;
  images: ImageService;
  /** The image service with another registry client (per-command registry access). */
  imagesWith(registry: RegistryClient): ImageService;
  /** Docker Hub mirrors every registry client of this agent uses. */
  mirrors: string[];
}

export function createRuntime(stateDir: string, opts: { mirrors?: string[] } = {}): AgentRuntime {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const snapshots = new Snapshotter(join(stateDir, "snapshots"));
  const unpacker: LayerUnpacker = new SnapshotUnpacker(snapshots);
  const content = new ContentStore(join(stateDir, "content"));
  const images = new ImageStore(stateDir);
  const mirrors = opts.mirrors ?? [];
  const registry = new RegistryClient({ mirrors });
  // Layers unpack on worker threads: pulls use every core and the link stays responsive.
  const extractor = sharedExtractor();
  const deps = { content, unpacker, extractor, images, registry };
  return { deps, snapshots, mirrors, images: new ImageService(deps), imagesWith: (r) => new ImageService({ ...deps, registry: r }) };
}
