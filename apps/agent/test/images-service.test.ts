// Image operations end to end on real parts: docker-registry on loopback, the content store,
// overlay snapshots (root), and Docker's output shapes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import * as tar from "tar";
import { ContentStore } from "../src/content/store.ts";
import { RegistryClient, RegistryError } from "../src/registry/client.ts";
import { hostPlatform, MediaType } from "../src/registry/media-types.ts";
import { buildBusyboxImage, type BuiltImage } from "../src/images/seed.ts";
import { createRuntime, type AgentRuntime } from "../src/runtime.ts";
import type { PullProgress } from "../src/images/pull.ts";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "berth-images-"));
let reg: TestRegistry;
let busybox: BuiltImage;
let n = 0;
const runtime = (stateDir = join(tmp, `agent-${n++}`)): AgentRuntime => createRuntime(stateDir);

/** The image events a runtime emits from now on, as [action, id, name]. */
function imageEvents(rt: AgentRuntime): Array<[string, string, string]> {
  const seen: Array<[string, string, string]> = [];
  rt.events.subscribe((e) => {
    if (e.Type === "image") seen.push([e.Action, e.Actor.ID, e.Actor.Attributes.name ?? ""]);
  });
  return seen;
}

before(async () => {
  reg = await startRegistry();
  busybox = await seedBusybox(reg, tmp);
});
after(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("pull: progress, list, inspect in Docker's shape, the layer unpacked into a snapshot", async () => {
  const rt = runtime();
  const events: PullProgress[] = [];
  const img = await rt.images.pull(`${reg.domain}/library/busybox`, { onProgress: (p) => events.push(p) });
  assert.equal(img.id, busybox.config.digest);
  assert.ok(events.some((e) => e.status === "Downloading" && e.total > 0 && e.current > 0));
  assert.ok(events.some((e) => e.status === "Pull complete"));
  const list = await rt.images.list();
  assert.deepEqual(
    list.map((i) => [i.Id, i.RepoTags, i.RepoDigests]),
    [[img.id, [`${reg.domain}/library/busybox:latest`], [`${reg.domain}/library/busybox@${busybox.manifestDigest}`]]],
  );
  const inspect = await rt.images.inspect(`${reg.domain}/library/busybox`);
  assert.equal(inspect.Id, img.id);
  assert.equal(inspect.Os, "linux");
  assert.deepEqual(
    (inspect.RootFS as { Layers: string[] }).Layers,
    busybox.layers.map((l) => l.diffId),
  );
  assert.deepEqual((inspect.Config as { Cmd: string[] }).Cmd, ["sh"]);
  assert.ok((inspect.Size as number) > 1_000_000, "the busybox binary counts toward Size");
  const mounts = await rt.snapshots.view("inspect-view", img.layers[0]!.chainId);
  const source = mounts[0]!.source;
  assert.ok(existsSync(join(source, "bin/busybox")), `bin/busybox in ${source}`);
  await rt.snapshots.remove("inspect-view");
  // pulled again: nothing to download
  const again: PullProgress[] = [];
  await rt.images.pull(`${reg.domain}/library/busybox:latest`, { onProgress: (p) => again.push(p) });
  assert.ok(
    again.every((e) => e.status === "Already exists"),
    JSON.stringify(again),
  );
});

test("history, tag, rmi (untag, conflict, force) and GC of snapshots and content", async () => {
  const stateDir = join(tmp, `agent-${n++}`);
  const rt = runtime(stateDir);
  const img = await rt.images.pull(`${reg.domain}/library/busybox`);
  const hist = await rt.images.history(img.id);
  assert.equal(hist[0]!.Id, img.id);
  assert.equal(hist[0]!.CreatedBy, 'CMD ["sh"]');
  assert.equal(hist[0]!.Size, 0);
  assert.ok(hist[1]!.Size > 0 && hist[1]!.Id === "<missing>");
  rt.images.tag(img.id, "mine/bb:v1");
  assert.throws(() => rt.images.tag(img.id, "Bad/Name"), /must be lowercase/);
  assert.throws(() => rt.images.tag("nope:nope", "x"), /No such image: nope:nope/);
  assert.deepEqual((await rt.images.list())[0]!.RepoTags.sort(), [`${reg.domain}/library/busybox:latest`, "mine/bb:v1"].sort());
  await assert.rejects(rt.images.remove(img.id), /unable to delete .* \(must be forced\) - image is referenced in multiple repositories/);
  assert.deepEqual(await rt.images.remove("mine/bb:v1"), [{ Untagged: "mine/bb:v1" }]);
  const removed = await rt.images.remove(img.id.slice(7, 19));
  assert.ok(removed.some((r) => "Deleted" in r && r.Deleted === img.id));
  assert.deepEqual(await rt.images.list(), []);
  assert.deepEqual(await rt.snapshots.list(), [], "its snapshots are gone");
  // Only the image service holds the runtime's content store; its directory is read here instead.
  assert.deepEqual(await new ContentStore(join(stateDir, "content")).list(), [], "its blobs are gone");
  await assert.rejects(rt.images.inspect("busybox"), /No such image: busybox/);
});

test("push to another repository mounts blobs; the pushed image pulls back identical", async () => {
  const rt = runtime();
  await rt.images.pull(`${reg.domain}/library/busybox`);
  rt.images.tag(`${reg.domain}/library/busybox`, `${reg.domain}/copies/bb:v1`);
  const steps: string[] = [];
  const events = imageEvents(rt);
  const pushed = await rt.images.push(`${reg.domain}/copies/bb:v1`, (p) => steps.push(p.status));
  assert.equal(pushed.digest, busybox.manifestDigest);
  assert.ok(steps.includes("Mounted"), steps.join(","));
  // dockerd's push event: the familiar reference as the ID, the repository as the name.
  assert.deepEqual(events, [["push", `${reg.domain}/copies/bb:v1`, `${reg.domain}/copies/bb`]]);
  await assert.rejects(rt.images.push(`${reg.domain}/copies/nosuch:v1`), /No such image/);
  assert.equal(events.length, 1, "a failed push emits nothing");
  const other = runtime();
  const back = await other.images.pull(`${reg.domain}/copies/bb:v1`);
  assert.equal(back.manifestDigest, busybox.manifestDigest);
  assert.ok((await other.images.inspect(`${reg.domain}/copies/bb:v1`)).RepoDigests);
});

test("import: a rootfs tarball with Dockerfile-style changes", async () => {
  const rt = runtime();
  const dir = mkdtempSync(join(tmp, "rootfs-"));
  const { writeFileSync, mkdirSync } = await import("node:fs");
  mkdirSync(join(dir, "app"));
  writeFileSync(join(dir, "app/hello.txt"), "hello\n");
  const tarball = join(tmp, "rootfs.tar.gz");
  await pipeline(Readable.from(tar.c({ cwd: dir, portable: true }, ["app"])), createGzip(), createWriteStream(tarball));
  const events = imageEvents(rt);
  const img = await rt.images.import(createReadStream(tarball), {
    reference: "imported/app:1",
    changes: ['CMD ["cat", "/app/hello.txt"]', "ENV A=1 B=two", "WORKDIR /app", "EXPOSE 8080 53/udp", "LABEL team=infra"],
    message: "from a tarball",
  });
  const inspect = await rt.images.inspect("imported/app:1");
  const cfg = inspect.Config as Record<string, unknown>;
  assert.equal(inspect.Id, img.id);
  assert.deepEqual(cfg.Cmd, ["cat", "/app/hello.txt"]);
  assert.deepEqual(cfg.Env, ["A=1", "B=two"]);
  assert.equal(cfg.WorkingDir, "/app");
  assert.deepEqual(cfg.ExposedPorts, { "8080/tcp": {}, "53/udp": {} });
  assert.deepEqual(cfg.Labels, { team: "infra" });
  assert.equal(inspect.Comment, "from a tarball");
  assert.deepEqual(events, [["import", img.id, img.id]], "dockerd's import event names the new image by ID");
  await assert.rejects(rt.images.import(createReadStream(tarball), { changes: ["RUN rm -rf /"] }), /RUN is not a valid change command/);
  await assert.rejects(rt.images.import(createReadStream(tarball), { changes: ["EXPOSE 99999"] }), /invalid containerPort: 99999/);
  assert.equal(events.length, 1, "a refused import emits nothing");
  // untagged import is dangling; prune removes it
  const dangling = await rt.images.import(createReadStream(tarball), { changes: ["CMD x"] });
  assert.ok((await rt.images.list({ dangling: true })).some((i) => i.Id === dangling.id));
  const pruned = await rt.images.prune();
  assert.ok(pruned.ImagesDeleted.some((d) => "Deleted" in d && d.Deleted === dangling.id));
  assert.ok(await rt.images.inspect("imported/app:1"), "tagged images survive prune");
});

test("save then load round-trips images with their IDs and tags", async () => {
  const rt = runtime();
  const img = await rt.images.pull(`${reg.domain}/library/busybox`);
  rt.images.tag(img.id, "saved/bb:1");
  const archive = join(tmp, "saved.tar");
  const events = imageEvents(rt);
  await pipeline(await rt.images.save(["saved/bb:1"]), createWriteStream(archive));
  assert.deepEqual(events, [["save", img.id, img.id]], "dockerd's save event names the image by ID");
  // One event per image however many of its names are given; none when a name is unknown.
  await pipeline(await rt.images.save(["saved/bb:1", img.id.slice(7, 19)]), createWriteStream(join(tmp, "saved-twice.tar")));
  assert.deepEqual(events.slice(1), [["save", img.id, img.id]]);
  await assert.rejects(rt.images.save(["saved/bb:1", "nosuch:1"]), /No such image: nosuch:1/);
  assert.equal(events.length, 2);
  const entries: string[] = [];
  await tar.t({ file: archive, onReadEntry: (e) => entries.push(e.path) });
  assert.ok(entries.includes("manifest.json") && entries.includes(`blobs/sha256/${img.id.slice(7)}`));
  const fresh = runtime();
  const loadEvents = imageEvents(fresh);
  const loaded = await fresh.images.load(createReadStream(archive));
  assert.deepEqual(loaded, [{ id: img.id, tags: ["saved/bb:1"] }]);
  assert.deepEqual(loadEvents, [["load", img.id, img.id]], "dockerd's load event names each image by ID");
  assert.equal((await fresh.images.inspect("saved/bb:1")).Id, img.id);
});

test("a docker-archive made by skopeo loads", async () => {
  const archive = join(tmp, "skopeo.tar");
  await run("skopeo", [
    "copy",
    "--src-tls-verify=false",
    `docker://${reg.domain}/library/busybox:latest`,
    `docker-archive:${archive}:skopeo/busybox:copied`,
  ]);
  const rt = runtime();
  const loaded = await rt.images.load(createReadStream(archive));
  assert.equal(loaded.length, 1);
  assert.deepEqual(loaded[0]!.tags, ["skopeo/busybox:copied"]);
  const inspect = await rt.images.inspect("skopeo/busybox:copied");
  assert.deepEqual(
    (inspect.RootFS as { Layers: string[] }).Layers,
    busybox.layers.map((l) => l.diffId),
  );
});

test("loading garbage, or an archive whose manifest points outside, fails clearly", async () => {
  const rt = runtime();
  const events = imageEvents(rt);
  const garbage = Readable.from([Buffer.from("not a tar at all, just text".repeat(40))]);
  await assert.rejects(rt.images.load(garbage), /invalid image archive|no manifest\.json/);
  const dir = mkdtempSync(join(tmp, "evil-"));
  const { writeFileSync } = await import("node:fs");
  writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ Config: "../../../etc/passwd", RepoTags: ["evil:1"], Layers: [] }]));
  const evil = join(tmp, "evil.tar");
  await pipeline(Readable.from(tar.c({ cwd: dir, portable: true }, ["manifest.json"])), createWriteStream(evil));
  await assert.rejects(rt.images.load(createReadStream(evil)), /outside the archive|is missing/);
  assert.deepEqual(await rt.images.list(), []);
  assert.deepEqual(events, [], "nothing loaded, no load events");
});

test("a layer whose content does not match the config's diff_ids is refused, leaving no image or snapshot", async () => {
  const seed = new ContentStore(join(tmp, "bad-seed"));
  const good = await buildBusyboxImage(seed);
  // Same layer blob, but the config claims another diffID.
  const cfg = JSON.parse((await seed.read(good.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
  cfg.rootfs.diff_ids = [`sha256:${"0".repeat(64)}`];
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  const cfgDigest = await seed.put(cfgBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: cfgDigest, size: cfgBytes.length },
      layers: [{ mediaType: MediaType.dockerLayerGzip, digest: good.layers[0]!.digest, size: good.layers[0]!.size }],
    }),
  );
  await seed.put(manifest);
  const client = new RegistryClient();
  const repo = { domain: reg.domain, path: "bad/diffid" };
  for (const b of [good.layers[0]!, { digest: cfgDigest, size: cfgBytes.length }]) await client.pushBlob(repo, b, seed);
  await client.putManifest(repo, "v1", manifest, MediaType.dockerManifest);
  const rt = runtime();
  await assert.rejects(
    rt.images.pull(`${reg.domain}/bad/diffid:v1`),
    /unpacked to sha256:[a-f0-9]{64}, but the image config says sha256:0{64}/,
  );
  assert.deepEqual(await rt.images.list(), []);
  assert.deepEqual(
    (await rt.snapshots.list()).filter((s) => s.kind === "committed"),
    [],
  );
  assert.deepEqual((await rt.snapshots.list()).length, 0, "the half-made snapshot was removed");
});

test("an OCI image with a zstd layer pulls and unpacks", async () => {
  const seed = new ContentStore(join(tmp, "zstd-seed"));
  const src = mkdtempSync(join(tmp, "zstd-src-"));
  writeFileSync(join(src, "hello.txt"), "compressed with zstd\n");
  const plain = Buffer.concat((await Readable.from(tar.c({ cwd: src, portable: true }, ["hello.txt"])).toArray()) as Buffer[]);
  // Debian's zstd compresses it: Node 20 has no zstd compressor.
  const zst = execFileSync("zstd", ["-q", "-c", "-3"], { input: plain });
  const layerDigest = await seed.put(zst);
  const diffId = `sha256:${createHash("sha256").update(plain).digest("hex")}`;
  const cfgBytes = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] }, config: { Cmd: ["sh"] } }),
  );
  const cfgDigest = await seed.put(cfgBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: cfgDigest, size: cfgBytes.length },
      layers: [{ mediaType: MediaType.ociLayerZstd, digest: layerDigest, size: zst.length }],
    }),
  );
  const client = new RegistryClient();
  const repo = { domain: reg.domain, path: "oci/zstd" };
  for (const b of [
    { digest: layerDigest, size: zst.length },
    { digest: cfgDigest, size: cfgBytes.length },
  ])
    await client.pushBlob(repo, b, seed);
  await client.putManifest(repo, "v1", manifest, MediaType.ociManifest);
  const rt = runtime();
  const img = await rt.images.pull(`${reg.domain}/oci/zstd:v1`);
  assert.equal(img.layers[0]!.mediaType, MediaType.ociLayerZstd);
  assert.equal(img.layers[0]!.diffId, diffId);
  const mounts = await rt.snapshots.view("zstd-view", img.layers[0]!.chainId);
  assert.equal(readFileSync(join(mounts[0]!.source, "hello.txt"), "utf8"), "compressed with zstd\n");
  await rt.snapshots.remove("zstd-view");
});

test("a corrupt gzip layer fails with a clear error", async () => {
  const seed = new ContentStore(join(tmp, "gz-seed"));
  const junk = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(2000, 7)]);
  const layerDigest = await seed.put(junk);
  const cfgBytes = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${"1".repeat(64)}`] }, config: {} }),
  );
  const cfgDigest = await seed.put(cfgBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: cfgDigest, size: cfgBytes.length },
      layers: [{ mediaType: MediaType.dockerLayerGzip, digest: layerDigest, size: junk.length }],
    }),
  );
  const client = new RegistryClient();
  const repo = { domain: reg.domain, path: "bad/gzip" };
  for (const b of [
    { digest: layerDigest, size: junk.length },
    { digest: cfgDigest, size: cfgBytes.length },
  ])
    await client.pushBlob(repo, b, seed);
  await client.putManifest(repo, "v1", manifest, MediaType.dockerManifest);
  const rt = runtime();
  await assert.rejects(rt.images.pull(`${reg.domain}/bad/gzip:v1`), /gzip|incorrect header check|invalid/i);
  assert.deepEqual(await rt.images.list(), []);
  await rt.snapshots.settled(); // a removed snapshot's directory is deleted in the background
  assert.equal(readdirSync(join(rt.snapshots.root, "snapshots")).length, 0);
});

test("distribution: a reference's descriptor and platform from the registry, without pulling", async () => {
  const rt = runtime();
  const info = await rt.images.distribution(`${reg.domain}/library/busybox`);
  assert.deepEqual(info.Descriptor, { mediaType: MediaType.dockerManifest, digest: busybox.manifestDigest, size: busybox.manifest.length });
  assert.deepEqual(info.Platforms, [{ architecture: hostPlatform().architecture, os: "linux" }]);
  assert.deepEqual(await rt.images.list(), [], "nothing was pulled");
  await assert.rejects(
    rt.images.distribution(`${reg.domain}/library/nothing`),
    (e: unknown) => e instanceof RegistryError && e.status === 404,
  );
  await assert.rejects(rt.images.distribution("Not A Ref"), /invalid reference format/);
});
