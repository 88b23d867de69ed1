import { randomBytes } from "node:crypto";
import { SnapshotExistsError, SnapshotNotFoundError, type Snapshotter } from "../snapshots/index.ts";
import type { LayerFill, LayerUnpacker, PendingLayer } from "./unpacker.ts";

/**
 * Layers as committed overlay snapshots keyed by chain ID, as containerd's unpacker does:
 * prepare an active snapshot on the parent chain, unpack into its upperdir, verify, commit.
 */
export class SnapshotUnpacker implements LayerUnpacker {
  constructor(private readonly snapshots: Snapshotter) {}

  async has(chainId: string): Promise<boolean> {
    try {
      return (await this.snapshots.stat(chainId)).kind === "committed";
    } catch (e) {
      if (e instanceof SnapshotNotFoundError) return false;
      throw e;
    }
  }

  async unpack(chainId: string, fill: LayerFill): Promise<PendingLayer> {
    const key = `extract-${randomBytes(6).toString("hex")}-${chainId}`;
    await this.snapshots.prepare(key);
    try {
      await fill(await this.snapshots.upperDir(key));
    } catch (e) {
      await this.snapshots.remove(key).catch(() => {});
      throw e;
    }
    return {
      commit: async (parent) => {
        try {
          await this.snapshots.commit(chainId, key, parent ? { parent } : {});
        } catch (e) {
          await this.snapshots.remove(key).catch(() => {});
          // A concurrent pull committed the same layer first: theirs is as good as ours.
          if (!(e instanceof SnapshotExistsError)) throw e;
        }
        return { size: await this.size(chainId) };
      },
      discard: () => this.snapshots.remove(key).catch(() => {}),
    };
  }

  async apply(chainId: string, parent: string | null, fill: LayerFill): Promise<{ size: number }> {
    return (await this.unpack(chainId, fill)).commit(parent);
  }

  async remove(chainId: string): Promise<void> {
    await this.snapshots.remove(chainId);
  }

  async size(chainId: string): Promise<number> {
    return (await this.snapshots.stat(chainId)).size ?? 0;
  }

  children(chainId: string): Promise<string[]> {
    return this.snapshots.children(chainId);
  }
}
