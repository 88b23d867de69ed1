// What ADD does beyond COPY: local archives are unpacked (with the same strict filter as image
// layers), and URLs are downloaded, bounded, and checked against --checksum when given.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fetch } from "undici";
import { unpackLayer } from "../snapshots/index.ts";
import { BuildError } from "./errors.ts";
import type { SourceTree } from "./source-tree.ts";

/** The most an ADD of a URL may download. */
const MAX_DOWNLOAD = 2 * 1024 * 1024 * 1024;

/** gzip, zstd, or a plain tar ("ustar" at offset 257): what ADD unpacks. */
export async function isArchive(tree: SourceTree, rel: string): Promise<boolean> {
  const parts: Buffer[] = [];
  let have = 0;
  const stream = tree.open(rel);
  for await (const c of stream) {
    parts.push(c as Buffer);
    have += (c as Buffer).length;
    if (have >= 262) break;
  }
  stream.destroy();
  const buf = Buffer.concat(parts);
  const bytesRead = buf.length;
  if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return true;
  if (bytesRead >= 4 && buf.readUInt32LE(0) === 0xfd2fb528) return true;
  return bytesRead >= 262 && buf.subarray(257, 262).toString("latin1") === "ustar";
}

/** Unpacks an archive of the tree into a new directory under `workDir` and returns it. */
export async function unpackArchive(tree: SourceTree, rel: string, workDir: string): Promise<string> {
  const dir = join(workDir, `add-${randomBytes(6).toString("hex")}`);
  await mkdir(dir, { mode: 0o700 });
  try {
    await unpackLayer(tree.open(rel), dir);
  } catch (e) {
    throw new BuildError(`ADD could not unpack ${posix.basename(rel)}: ${e instanceof Error ? e.message : String(e)}`, "INVALID", {
      cause: e,
    });
  }
  return dir;
}

export interface Download {
  path: string;
  /** The file name the destination gets when it is a directory (the URL's last path part). */
  name: string;
  sha256: string;
  mtime?: Date;
}

/** Downloads `url` for ADD; `checksum` is `sha256:<hex>` as BuildKit takes it. */
export async function downloadForAdd(url: string, workDir: string, checksum: string | undefined, signal: AbortSignal): Promise<Download> {
  if (checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(checksum)) {
    throw new BuildError(`invalid checksum ${JSON.stringify(checksum)}: expected sha256:<64 hex digits>`, "INVALID");
  }
  const res = await fetch(url, { signal, redirect: "follow" }).catch((e: unknown) => {
    throw new BuildError(`ADD could not download ${url}: ${e instanceof Error ? e.message : String(e)}`, "FAILED");
  });
  if (!res.ok || !res.body) throw new BuildError(`ADD could not download ${url}: HTTP ${res.status}`, "FAILED");
  const path = join(workDir, `download-${randomBytes(6).toString("hex")}`);
  const hash = createHash("sha256");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      if (bytes > MAX_DOWNLOAD) return cb(new BuildError(`ADD of ${url}: the download is larger than ${MAX_DOWNLOAD} bytes`, "INVALID"));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), meter, createWriteStream(path, { mode: 0o600 }));
  const sha256 = hash.digest("hex");
  if (checksum && checksum !== `sha256:${sha256}`) {
    throw new BuildError(`ADD of ${url}: checksum mismatch: expected ${checksum}, got sha256:${sha256}`, "INVALID");
  }
  const lastModified = res.headers.get("last-modified");
  const name = posix.basename(new URL(url).pathname) || "download";
  return { path, name, sha256, ...(lastModified && !Number.isNaN(Date.parse(lastModified)) ? { mtime: new Date(lastModified) } : {}) };
}
