import type { Readable } from "node:stream";

/**
 * What the image service needs from the snapshot layer: committed snapshots keyed by chain ID.
 * `apply` unpacks an uncompressed layer tar on top of `parent` and calls `verify` once the tar
 * is fully read; if it throws, nothing is committed.
 */
export interface LayerUnpacker {
  has(chainId: string): Promise<boolean>;
  apply(chainId: string, parent: string | null, tar: Readable, verify: () => void): Promise<{ size: number }>;
  remove(chainId: string): Promise<void>;
  /** Bytes the layer's own snapshot holds (its diff), recorded when it was applied. */
  size(chainId: string): Promise<number>;
  /** Chain IDs with committed snapshots stacked on them (they cannot be removed first). */
  children(chainId: string): Promise<string[]>;
}
