// The offline base image: built from Debian's busybox-static, reproducibly, and pulled as
// `busybox` through a Docker Hub mirror pointing at a loopback registry.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import { ContentStore } from "../src/content/store.ts";
import { RegistryClient } from "../src/registry/client.ts";
import { parseReference } from "../src/registry/reference.ts";
import { buildBusyboxImage, pushBuiltImage } from "../src/images/seed.ts";
import { decompressLayer } from "../src/images/layers.ts";
import { startRegistry, type TestRegistry } from "@berth/test-support/registry";

const tmp = mkdtempSync(join(tmpdir(), "berth-seed-"));
let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("the busybox image is reproducible and holds the binary and its applets", async () => {
  const a = await buildBusyboxImage(new ContentStore(join(tmp, "a")));
  const store = new ContentStore(join(tmp, "b"));
  const b = await buildBusyboxImage(store);
  assert.equal(a.manifestDigest, b.manifestDigest, "same package, same digest");
  const entries = new Map<string, { type: string; linkpath?: string; mode?: number }>();
  const { tar: plain, diffId } = decompressLayer(store.readStream(b.layers[0]!.digest));
  await new Promise<void>((resolve, reject) => {
    const p = new tar.Parser({
      onReadEntry: (e) => {
        entries.set(e.path.replace(/\/$/, ""), {
          type: e.type,
          ...(e.linkpath ? { linkpath: e.linkpath } : {}),
          ...(e.mode !== undefined ? { mode: e.mode } : {}),
        });
        return e.resume();
      },
    });
    p.on("end", () => resolve());
    p.on("error", reject);
    plain.on("error", reject);
    plain.pipe(p);
  });
  assert.equal(diffId(), b.layers[0]!.diffId);
  assert.equal(entries.get("bin/busybox")?.type, "File");
  assert.equal((entries.get("bin/busybox")?.mode ?? 0) & 0o111, 0o111);
  // Applets are symlinks to the binary; a Linux symlink's mode is always 0777.
  assert.deepEqual(entries.get("bin/sh"), { type: "SymbolicLink", linkpath: "/bin/busybox", mode: 0o777 });
  assert.equal(entries.get("tmp")?.type, "Directory");
  assert.equal((entries.get("tmp")?.mode ?? 0) & 0o1777, 0o1777);
  assert.ok(entries.has("etc/passwd"));
});

test("pushed as library/busybox, it pulls as `busybox` through a Docker Hub mirror", async () => {
  const store = new ContentStore(join(tmp, "c"));
  const img = await buildBusyboxImage(store);
  await pushBuiltImage(new RegistryClient(), store, img, `${reg.domain}/library/busybox:latest`);
  const client = new RegistryClient({ mirrors: [reg.url] });
  const resolved = await client.resolve(parseReference("busybox:latest"));
  assert.equal(resolved.manifestDigest, img.manifestDigest);
  const into = new ContentStore(join(tmp, "d"));
  await client.fetchBlob(parseReference("busybox"), resolved.manifest.layers[0]!, into);
  assert.equal(await into.has(img.layers[0]!.digest), true);
});
