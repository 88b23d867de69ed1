import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { SnapshotExistsError, SnapshotNotFoundError } from "./errors.ts";
import type { Snapshotter } from "./snapshotter.ts";
import { unpackLayer, type UnpackOptions } from "./unpack.ts";

/*
 * Committed snapshots keyed by chain ID, the shape images/ asks for (images/unpacker.ts
 * LayerUnpacker; matched structurally so this layer does not import the one above it).
 * A layer is unpacked into a temporary active snapshot and only committed once the caller's
 * verify() (diff ID check) passes; any failure removes the partial snapshot.
 */
export class SnapshotLayerUnpacker {
  constructor(
    private readonly snapshots: Snapshotter,
    private readonly opts: Pick<UnpackOptions, "isRoot"> = {},
  ) {}

  async has(chainId: string): Promise<boolean> {
    try {
      return (await this.snapshots.stat(chainId)).kind === "committed";
    } catch (err) {
      if (err instanceof SnapshotNotFoundError) return false;
      throw err;
    }
  }

  async apply(chainId: string, parent: string | null, tar: Readable, verify: () => void): Promise<{ size: number }> {
    const key = `extract-${randomUUID()} ${chainId}`;
    await this.snapshots.prepare(key, parent ?? undefined);
    try {
      await unpackLayer(tar, await this.snapshots.upperDir(key), this.opts);
      verify();
      await this.snapshots.commit(chainId, key);
    } catch (err) {
      await this.snapshots.remove(key).catch(() => undefined);
      // Another pull committed the same layer meanwhile: the content is identical by chain ID.
      if (!(err instanceof SnapshotExistsError && (await this.has(chainId)))) throw err;
    }
    return { size: await this.size(chainId) };
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
