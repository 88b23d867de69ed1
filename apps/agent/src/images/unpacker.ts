/** Writes a layer's content into an empty snapshot directory; rejects if the layer is bad. */
export type LayerFill = (dir: string) => Promise<void>;

/** A layer unpacked into its own snapshot, not yet stacked: commit it onto its parent, or discard it. */
export interface PendingLayer {
  commit(parent: string | null): Promise<{ size: number }>;
  discard(): Promise<void>;
}

/**
 * What the image service needs from the snapshot layer: committed snapshots keyed by chain ID.
 * `unpack` prepares a snapshot of the layer's own and lets `fill` write the layer into its
 * directory (and verify it); layers can unpack side by side and are committed in order.
 */
export interface LayerUnpacker {
  has(chainId: string): Promise<boolean>;
  unpack(chainId: string, fill: LayerFill): Promise<PendingLayer>;
  /** unpack, then commit on `parent`. */
  apply(chainId: string, parent: string | null, fill: LayerFill): Promise<{ size: number }>;
  remove(chainId: string): Promise<void>;
  /** Bytes the layer's own snapshot holds (its diff), recorded when it was committed. */
  size(chainId: string): Promise<number>;
  /** Chain IDs with committed snapshots stacked on them (they cannot be removed first). */
  children(chainId: string): Promise<string[]>;
}
