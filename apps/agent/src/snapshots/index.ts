/** Public interface of the snapshot layer: the overlay snapshotter, layer unpack and diff. */
export { Snapshotter, type SnapshotInfo, type SnapshotKind } from "./snapshotter.ts";
export { unpackLayer, type UnpackOptions, type UnpackResult } from "./unpack.ts";
export { pathComponents } from "./apply-entry.ts";
export { diffLayer, type DiffOptions } from "./diff.ts";
export { createZstdDecompressor, decompressLayer, type Compression } from "./compression.ts";
export {
  LayerFormatError,
  LayerSecurityError,
  SnapshotExistsError,
  SnapshotInUseError,
  SnapshotNotFoundError,
  SnapshotStateError,
  UnsupportedEntryError,
} from "./errors.ts";
