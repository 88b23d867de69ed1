/**
 * Test helper: writes tar archives byte by byte (ustar headers plus optional PAX records), so tests
 * can build malicious layers that node-tar's own writer would sanitize.
 */
import { mkdtempSync, rmSync, mkdirSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";

export interface RawEntry {
  path: string;
  /** ustar typeflag: "0" file, "1" hardlink, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  data?: Buffer | string;
  linkpath?: string;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** PAX records written in an 'x' header before this entry (e.g. SCHILY.xattr.user.foo). */
  pax?: Record<string, string | Buffer>;
}

function octal(buf: Buffer, off: number, len: number, value: number) {
  buf.write(`${value.toString(8).padStart(len - 1, "0")}\0`, off, len, "latin1");
}

function header(e: {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(512);
  if (Buffer.byteLength(e.path) > 100) throw new Error(`raw tar helper: path too long, use pax: ${e.path}`);
  b.write(e.path, 0, 100, "utf8");
  octal(b, 100, 8, e.mode);
  octal(b, 108, 8, e.uid);
  octal(b, 116, 8, e.gid);
  octal(b, 124, 12, e.size);
  octal(b, 136, 12, e.mtime);
  b.fill(0x20, 148, 156);
  b.write(e.type, 156, 1, "latin1");
  b.write(e.linkpath, 157, 100, "utf8");
  b.write("ustar\0", 257, 6, "latin1");
  b.write("00", 263, 2, "latin1");
  octal(b, 329, 8, e.devmajor);
  octal(b, 337, 8, e.devminor);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  return b;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function buildTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, Buffer.isBuffer(v) ? v : Buffer.from(v))));
      parts.push(
        header({
          path: "PaxHeader",
          type: "x",
          mode: 0o644,
          uid: 0,
          gid: 0,
          size: body.length,
          mtime: 0,
          linkpath: "",
          devmajor: 0,
          devminor: 0,
        }),
        body,
        pad(body.length),
      );
    }
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const type = e.type ?? "0";
    parts.push(
      header({
        path: e.path,
        type,
        mode: e.mode ?? (type === "5" ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        size: data.length,
        mtime: e.mtime ?? 1_600_000_000,
        linkpath: e.linkpath ?? "",
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
      }),
      data,
      pad(data.length),
    );
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const tarStream = (entries: RawEntry[], opts: { gzip?: boolean } = {}) => {
  const t = buildTar(entries);
  return Readable.from([opts.gzip ? gzipSync(t) : t]);
};

/** A sandbox: target/ is the layer dir, outside/ a sibling that must stay untouched. */
export function sandbox(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const target = join(base, "target");
  const outside = join(base, "outside");
  mkdirSync(target);
  mkdirSync(outside);
  return {
    base,
    target,
    outside,
    /** Everything under outside/ (should stay empty) plus whether decoys exist. */
    outsideListing: () => readdirSync(outside, { recursive: true }),
    exists: (p: string) => existsSync(p),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}
