// The agent's layers meet only at their front doors: a file in one layer folder may import
// another layer only through that layer's index.ts (tests may look inside; they are white-box).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const src = resolve(import.meta.dirname, "../src");
const IMPORT = /\b(?:import|export)\s[^"']*?from\s+"(\.[^"]+)"/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const layerOf = (rel: string) => (rel.includes("/") ? rel.split("/")[0]! : null);

test("no agent layer imports another layer's internals", () => {
  const breaches: string[] = [];
  const layers = new Set<string>();
  for (const file of files(src)) {
    const rel = relative(src, file);
    const own = layerOf(rel);
    if (own) layers.add(own);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = relative(src, resolve(dirname(file), m[1]!));
      const layer = layerOf(target);
      if (layer && layer !== own && target !== `${layer}/index.ts`) breaches.push(`${rel} → ${target}`);
    }
  }
  assert.ok(layers.size >= 10, `found the layer folders (${[...layers].join(", ")})`);
  assert.deepEqual(breaches, [], "cross-layer imports that bypass the layer's index.ts");
});
