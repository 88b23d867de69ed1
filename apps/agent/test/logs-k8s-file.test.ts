// Reading conmon's k8s-file logs: partial records join into lines, but only up to a cap, so a
// writer that never ends its line cannot make a reader hold it whole.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_JOINED_LINE, readLogs } from "../src/logs/k8s-file.ts";

test("partial records join into one line up to the cap; a longer line comes in pieces that add up to it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-k8sfile-"));
  try {
    const path = join(dir, "container.log");
    const chunk = "x".repeat(8192);
    const records: string[] = [];
    const stamp = (i: number) => `2026-11-30T12:00:00.${String(i).padStart(9, "0")}+00:00`;
    // A 1 MiB line without its end for a long time, then an ordinary line.
    const parts = (1024 * 1024) / chunk.length;
    for (let i = 0; i < parts; i++) records.push(`${stamp(i)} stdout P ${chunk}`);
    records.push(`${stamp(parts)} stdout F tail`);
    records.push(`${stamp(parts + 1)} stdout F short`);
    writeFileSync(path, `${records.join("\n")}\n`);
    const lines: string[] = [];
    for await (const e of readLogs(path)) lines.push(e.line);
    assert.ok(lines.length > 2, `split into ${lines.length} lines`);
    for (const l of lines) assert.ok(l.length <= MAX_JOINED_LINE + chunk.length, `a piece of ${l.length} characters`);
    assert.equal(lines.slice(0, -1).join(""), `${"x".repeat(1024 * 1024)}tail\n`, "the pieces add up to the line");
    assert.equal(lines.at(-1), "short\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line cut into records inside UTF-8 characters reads back whole (conmon cuts at a byte count)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-k8sfile-"));
  try {
    const path = join(dir, "container.log");
    const text = "中文😀é-".repeat(3000);
    const bytes = Buffer.from(`${text}\n`);
    const stamp = (i: number, last: boolean) =>
      Buffer.from(`2026-11-30T12:00:00.${String(i).padStart(9, "0")}+00:00 stdout ${last ? "F" : "P"} `);
    // Records of 7 bytes (a prime, so cuts fall at every offset inside characters), the last one F.
    const chunks: Buffer[] = [];
    let i = 0;
    for (let at = 0; at < bytes.length - 1; at += 7, i++) {
      const end = Math.min(at + 7, bytes.length - 1);
      chunks.push(stamp(i, end === bytes.length - 1), bytes.subarray(at, end), Buffer.from("\n"));
    }
    writeFileSync(path, Buffer.concat(chunks));
    const lines: string[] = [];
    for await (const e of readLogs(path)) lines.push(e.line);
    assert.equal(lines.join(""), `${text}\n`);
    assert.ok(!lines.join("").includes("\ufffd"), "no replacement characters");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
