// Typed errors of the snapshot layer, so callers (image pull, build) can tell refusal from breakage.

/** A layer tried to write outside its target or to create something it must not: the layer is refused. */
export class LayerSecurityError extends Error {
  override name = "LayerSecurityError";
  constructor(
    readonly entryPath: string,
    reason: string,
  ) {
    super(`refusing layer entry ${JSON.stringify(entryPath)}: ${reason}`);
  }
}

/** The layer is not a readable tar (corrupt gzip, bad header checksum, truncated). */
export class LayerFormatError extends Error {
  override name = "LayerFormatError";
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

/** A tar entry type the unpacker does not handle (sparse files, tape volume headers, ...). */
export class UnsupportedEntryError extends Error {
  override name = "UnsupportedEntryError";
  constructor(
    readonly entryPath: string,
    readonly entryType: string,
  ) {
    super(`unsupported tar entry type ${entryType} for ${JSON.stringify(entryPath)}`);
  }
}

export class SnapshotNotFoundError extends Error {
  override name = "SnapshotNotFoundError";
  constructor(readonly key: string) {
    super(`snapshot ${JSON.stringify(key)} does not exist`);
  }
}

export class SnapshotExistsError extends Error {
  override name = "SnapshotExistsError";
  constructor(readonly key: string) {
    super(`snapshot ${JSON.stringify(key)} already exists`);
  }
}

/** The operation does not fit the snapshot's kind (commit of a view, parent that is not committed, ...). */
export class SnapshotStateError extends Error {
  override name = "SnapshotStateError";
}

/** remove() of a snapshot that other snapshots are stacked on. */
export class SnapshotInUseError extends Error {
  override name = "SnapshotInUseError";
  constructor(
    readonly key: string,
    readonly children: string[],
  ) {
    super(`snapshot ${JSON.stringify(key)} has children (${children.join(", ")}); remove them first`);
  }
}
