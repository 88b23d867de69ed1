/*
 * Extracts SCHILY.xattr.* records (how Go's archive/tar, GNU tar and Docker store xattrs) from the
 * text of a PAX extended header. node-tar parses PAX headers but keeps only the fields it knows.
 *
 * node-tar hands the header over as a UTF-8 decoded string, so a value with bytes that are not
 * valid UTF-8 cannot be recovered exactly: such headers are reported, not half-applied.
 */

const PREFIX = "SCHILY.xattr.";

export function paxXattrs(meta: string): { xattrs: Map<string, Buffer>; warning?: string } {
  const xattrs = new Map<string, Buffer>();
  if (!meta.includes(PREFIX)) return { xattrs };
  if (meta.includes("\uFFFD")) {
    return { xattrs, warning: "a PAX header carries xattrs with non-UTF-8 bytes; they were not applied" };
  }
  const buf = Buffer.from(meta, "utf8");
  let i = 0;
  // Records are "<length> <key>=<value>\n", where length counts the whole record in bytes.
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const lenText = buf.subarray(i, sp).toString("latin1");
    if (!/^[0-9]{1,10}$/.test(lenText)) break;
    const len = Number(lenText);
    if (len <= sp - i + 1 || i + len > buf.length || buf[i + len - 1] !== 0x0a) break;
    const record = buf.subarray(sp + 1, i + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString("utf8");
      if (key.startsWith(PREFIX) && key.length > PREFIX.length) {
        xattrs.set(key.slice(PREFIX.length), Buffer.from(record.subarray(eq + 1)));
      }
    }
    i += len;
  }
  return { xattrs };
}
