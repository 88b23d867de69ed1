import type { Readable } from "node:stream";

/** A layer unpacked into its own snapshot, not yet stacked: commit it onto its parent, or discard it. */
export interface PendingLayer {
  commit(parent: string | null): Promise<{ size: number }>;
  discard(): Promise<void>;
}

/**
 * What the image service needs from the snapshot layer: committed snapshots keyed by chain ID.
 * `unpack` applies an uncompressed layer tar into a snapshot of its own and calls `verify` once
 * the tar is fully read; layers can unpack side by side and are committed in order.
 */
export interface LayerUnpacker {
  has(chainId: string): Promise<boolean>;
  unpack(chainId: string, tar: Readable, verify: () => void): Promise<PendingLayer>;
  /** unpack, then commit on `parent`. */
  apply(chainId: string, parent: string | null, tar: Readable, verify: () => void): Promise<{ size: number }>;
  remove(chainId: string): Promise<void>;
  /** Bytes the layer's own snapshot holds (its diff), recorded when it was committed. */
  size(chainId: string): Promise<number>;
  /** Chain IDs with committed snapshots stacked on them (they cannot be removed first). */
  children(chainId: string): Promise<string[]>;
}
