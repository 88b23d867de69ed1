import { lstat, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { Header, Pack, ReadEntry } from "tar";
import { findXattrs } from "../mount/index.ts";
import { OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from "./apply-entry.ts";

/*
 * Turns an overlay upperdir back into an OCI layer tar (for commit and build): ordinary files go
 * through node-tar's Pack, overlay whiteouts (char 0/0) become empty `.wh.<name>` files and opaque
 * directories (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry, which is what unpackLayer
 * turns back into whiteouts.
 *
 * Not carried over (node-tar cannot write them): xattrs other than the opaque marker, and device
 * nodes (Pack writes no major/minor). Those are reported through onWarning and left out.
 */

export interface DiffOptions {
  onWarning?: (message: string) => void;
}

type Item = { kind: "path"; rel: string } | { kind: "marker"; rel: string; mode: number; uid: number; gid: number; mtime: Date };

function marker(rel: string, st: { uid: number; gid: number; mtime: Date }): Item {
  return { kind: "marker", rel, mode: 0o644, uid: st.uid, gid: st.gid, mtime: st.mtime };
}

/** An empty regular-file entry that exists only in the tar, not on disk. */
function markerEntry(item: Extract<Item, { kind: "marker" }>): ReadEntry {
  const entry = new ReadEntry(
    new Header({ path: item.rel, type: "File", size: 0, mode: item.mode, uid: item.uid, gid: item.gid, mtime: item.mtime }),
  );
  entry.end();
  return entry;
}

/** Lists what the layer tar will hold, parents before children, names in byte order. */
async function walk(root: string, onWarning: (m: string) => void): Promise<Item[]> {
  const opaque = await findXattrs(root, `^${OVERLAY_OPAQUE_XATTR.replace(/\./g, "\\.")}$`);
  const isOpaque = (abs: string) => opaque.get(abs)?.get(OVERLAY_OPAQUE_XATTR)?.toString() === "y";
  const items: Item[] = [];
  const visit = async (relDir: string): Promise<void> => {
    const absDir = relDir ? join(root, relDir) : root;
    const names = (await readdir(absDir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(absDir, name);
      const st = await lstat(abs);
      if (st.isCharacterDevice() && st.rdev === 0) {
        items.push(marker(relDir ? `${relDir}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, st));
      } else if (st.isDirectory()) {
        items.push({ kind: "path", rel });
        if (isOpaque(abs)) items.push(marker(`${rel}/${OPAQUE_WHITEOUT}`, st));
        await visit(rel);
      } else if (st.isFile() || st.isSymbolicLink()) {
        items.push({ kind: "path", rel });
      } else {
        onWarning(`${rel}: ${st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : "device node"} left out of the layer`);
      }
    }
  };
  // An opaque root would hide every lower layer; it has no tar representation other than this marker.
  if (isOpaque(root)) items.push(marker(OPAQUE_WHITEOUT, await lstat(root)));
  await visit("");
  return items;
}

/**
 * A tar stream of the layer in `upperDir`. The directory must not change while the stream is read
 * (the container is stopped or the snapshot is a committed one).
 */
export function diffLayer(upperDir: string, opts: DiffOptions = {}): Readable {
  const root = resolve(upperDir);
  const out = new PassThrough();
  const warn = opts.onWarning ?? (() => undefined);
  void (async () => {
    const items = await walk(root, warn);
    const pack = new Pack({ cwd: root, portable: false, noDirRecurse: true, strict: true });
    pack.on("error", (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
    pack.pipe(out);
    for (const item of items) pack.add(item.kind === "path" ? item.rel : markerEntry(item));
    pack.end();
  })().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return out;
}
