// Typed errors of the snapshot layer, so callers (image pull, build) can tell refusal from breakage.
// They reach the edges as FAILED: a snapshot problem is the agent's, whatever request met it.
import { AgentError } from "../errors.ts";

/** A layer tried to write outside its target or to create something it must not: the layer is refused. */
export class LayerSecurityError extends AgentError {
  override name = "LayerSecurityError";
  constructor(
    readonly entryPath: string,
    reason: string,
  ) {
    super(`refusing layer entry ${JSON.stringify(entryPath)}: ${reason}`, "FAILED");
  }
}

/** The layer is not a readable tar (corrupt gzip, bad header checksum, truncated). */
export class LayerFormatError extends AgentError {
  override name = "LayerFormatError";
  constructor(message: string, cause?: unknown) {
    super(message, "FAILED", { cause });
  }
}

/** A tar entry type the unpacker does not handle (sparse files, tape volume headers, ...). */
export class UnsupportedEntryError extends AgentError {
  override name = "UnsupportedEntryError";
  constructor(
    readonly entryPath: string,
    readonly entryType: string,
  ) {
    super(`unsupported tar entry type ${entryType} for ${JSON.stringify(entryPath)}`, "FAILED");
  }
}

export class SnapshotNotFoundError extends AgentError {
  override name = "SnapshotNotFoundError";
  constructor(readonly key: string) {
    super(`snapshot ${JSON.stringify(key)} does not exist`, "FAILED");
  }
}

export class SnapshotExistsError extends AgentError {
  override name = "SnapshotExistsError";
  constructor(readonly key: string) {
    super(`snapshot ${JSON.stringify(key)} already exists`, "FAILED");
  }
}

/** The operation does not fit the snapshot's kind (commit of a view, parent that is not committed, ...). */
export class SnapshotStateError extends AgentError {
  override name = "SnapshotStateError";
  constructor(message: string) {
    super(message, "FAILED");
  }
}

/** remove() of a snapshot that other snapshots are stacked on. */
export class SnapshotInUseError extends AgentError {
  override name = "SnapshotInUseError";
  constructor(
    readonly key: string,
    readonly children: string[],
  ) {
    super(`snapshot ${JSON.stringify(key)} has children (${children.join(", ")}); remove them first`, "FAILED");
  }
}
