// The registry client against Debian's docker-registry on loopback: push/pull, mounts, basic and
// token auth, manifest lists, media types, and downloads that are corrupted or cut.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ContentStore, DigestMismatchError, sha256Digest } from "../src/content/store.ts";
import { RegistryClient, RegistryError, type Repo } from "../src/registry/client.ts";
import { MediaType, type Platform } from "../src/registry/media-types.ts";
import { parseReference } from "../src/registry/reference.ts";
import { startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { startFaultyProxy } from "./support/faulty-proxy.ts";

const tmp = mkdtempSync(join(tmpdir(), "berth-regclient-"));
let n = 0;
const store = () => new ContentStore(join(tmp, `store-${n++}`));
let plain: TestRegistry;
before(async () => {
  plain = await startRegistry();
});
after(async () => {
  await plain?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Built {
  manifest: Buffer;
  manifestDigest: string;
  blobs: Array<{ digest: string; size: number }>;
}

/** An image in `s`: two random layers and a config for `platform`, as a Docker or OCI manifest. */
async function buildImage(s: ContentStore, opts: { oci?: boolean; platform?: Platform; layerBytes?: number } = {}): Promise<Built> {
  const p = opts.platform ?? { os: "linux", architecture: "amd64" };
  const layers = await Promise.all(
    [0, 1].map(async () => {
      const data = randomBytes(opts.layerBytes ?? 50_000);
      return { digest: await s.put(data), size: data.length };
    }),
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  const configDigest = await s.put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: opts.oci ? MediaType.ociManifest : MediaType.dockerManifest,
      config: { mediaType: opts.oci ? MediaType.ociConfig : MediaType.dockerConfig, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: opts.oci ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip, ...l })),
    }),
  );
  const manifestDigest = await s.put(manifest);
  return { manifest, manifestDigest, blobs: [...layers, { digest: configDigest, size: config.length }] };
}

async function push(
  client: RegistryClient,
  s: ContentStore,
  repo: Repo,
  img: Built,
  tag: string,
  opts: { oci?: boolean; chunkSize?: number } = {},
) {
  const how = [];
  for (const b of img.blobs) how.push(await client.pushBlob(repo, b, s, opts.chunkSize ? { chunkSize: opts.chunkSize } : {}));
  await client.putManifest(repo, tag, img.manifest, opts.oci ? MediaType.ociManifest : MediaType.dockerManifest);
  return how;
}

async function pullAll(client: RegistryClient, ref: string, into: ContentStore, platform?: Platform) {
  const resolved = await client.resolve(parseReference(ref), platform);
  for (const d of [resolved.manifest.config, ...resolved.manifest.layers]) await client.fetchBlob(parseReference(ref), d, into);
  return resolved;
}

test("push then pull round-trips an image, monolithic and chunked", async () => {
  const client = new RegistryClient();
  const a = store();
  const img = await buildImage(a, { layerBytes: 300_000 });
  const repo = parseReference(`${plain.domain}/round/trip`);
  assert.deepEqual(await push(client, a, repo, img, "v1", { chunkSize: 64 * 1024 }), ["uploaded", "uploaded", "uploaded"]);
  assert.deepEqual(await push(client, a, repo, img, "v1"), ["exists", "exists", "exists"]);
  const b = store();
  const resolved = await pullAll(client, `${plain.domain}/round/trip:v1`, b);
  assert.equal(resolved.manifestDigest, img.manifestDigest);
  assert.equal(resolved.digest, img.manifestDigest);
  for (const blob of img.blobs) assert.deepEqual(await b.read(blob.digest), await a.read(blob.digest));
  // by digest too
  const byDigest = await client.resolve(parseReference(`${plain.domain}/round/trip@${img.manifestDigest}`));
  assert.equal(byDigest.manifestDigest, img.manifestDigest);
});

test("a blob another repository has is mounted, not uploaded", async () => {
  const client = new RegistryClient();
  const s = store();
  const img = await buildImage(s);
  await push(client, s, parseReference(`${plain.domain}/mount/src`), img, "v1");
  const layer = img.blobs[0]!;
  assert.equal(await client.pushBlob(parseReference(`${plain.domain}/mount/dst`), layer, s, { mountFrom: "mount/src" }), "mounted");
  assert.equal(await client.hasBlob(parseReference(`${plain.domain}/mount/dst`), layer.digest), true);
});

test("a missing tag gets a clear not-found error", async () => {
  const client = new RegistryClient();
  await assert.rejects(
    client.resolve(parseReference(`${plain.domain}/round/trip:nope`)),
    (e: unknown) =>
      e instanceof RegistryError && e.status === 404 && /manifest for round\/trip:nope not found: manifest unknown/.test(e.message),
  );
});

test("OCI and Docker media types are both understood", async () => {
  const client = new RegistryClient();
  const s = store();
  const oci = await buildImage(s, { oci: true });
  await push(client, s, parseReference(`${plain.domain}/types/oci`), oci, "v1", { oci: true });
  const docker = await buildImage(s);
  await push(client, s, parseReference(`${plain.domain}/types/docker`), docker, "v1");
  const r1 = await client.resolve(parseReference(`${plain.domain}/types/oci:v1`));
  const r2 = await client.resolve(parseReference(`${plain.domain}/types/docker:v1`));
  assert.equal(r1.manifestMediaType, MediaType.ociManifest);
  assert.equal(r1.manifest.layers[0]!.mediaType, MediaType.ociLayerGzip);
  assert.equal(r2.manifestMediaType, MediaType.dockerManifest);
  assert.equal(r2.manifest.config.mediaType, MediaType.dockerConfig);
});

test("a manifest list with two platforms resolves to the asked one", async () => {
  const client = new RegistryClient();
  const s = store();
  const repo = parseReference(`${plain.domain}/multi/arch`);
  const amd = await buildImage(s, { platform: { os: "linux", architecture: "amd64" } });
  const arm = await buildImage(s, { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
  await push(client, s, repo, amd, amd.manifestDigest);
  await push(client, s, repo, arm, arm.manifestDigest);
  for (const [type, tag] of [
    [MediaType.dockerManifestList, "list"],
    [MediaType.ociIndex, "index"],
  ] as const) {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: type,
        manifests: [
          {
            mediaType: MediaType.dockerManifest,
            digest: amd.manifestDigest,
            size: amd.manifest.length,
            platform: { os: "linux", architecture: "amd64" },
          },
          {
            mediaType: MediaType.dockerManifest,
            digest: arm.manifestDigest,
            size: arm.manifest.length,
            platform: { os: "linux", architecture: "arm64", variant: "v8" },
          },
        ],
      }),
    );
    await client.putManifest(repo, tag, index, type);
    const b = store();
    const onArm = await pullAll(client, `${plain.domain}/multi/arch:${tag}`, b, { os: "linux", architecture: "arm64" });
    assert.equal(onArm.manifestDigest, arm.manifestDigest);
    assert.equal(onArm.digest, sha256Digest(index), "the reference's digest is the index's");
    assert.equal(onArm.index?.mediaType, type);
    const onAmd = await client.resolve(parseReference(`${plain.domain}/multi/arch:${tag}`), { os: "linux", architecture: "amd64" });
    assert.equal(onAmd.manifestDigest, amd.manifestDigest);
    await assert.rejects(
      client.resolve(parseReference(`${plain.domain}/multi/arch:${tag}`), { os: "linux", architecture: "s390x" }),
      /no matching manifest for linux\/s390x in the manifest list entries \(have: linux\/amd64, linux\/arm64\/v8\)/,
    );
  }
});

test("a corrupted download fails with a digest mismatch and stores nothing", async () => {
  const s = store();
  const img = await buildImage(s);
  await push(new RegistryClient(), s, parseReference(`${plain.domain}/faulty/corrupt`), img, "v1");
  const proxy = await startFaultyProxy(plain.url, { kind: "corrupt" });
  try {
    const client = new RegistryClient();
    const into = store();
    const layer = img.blobs[0]!;
    await assert.rejects(
      client.fetchBlob(parseReference(`${proxy.domain}/faulty/corrupt`), layer, into),
      (e: unknown) => e instanceof DigestMismatchError && /blob digest mismatch/.test((e as Error).message),
    );
    assert.equal(await into.has(layer.digest), false);
    assert.deepEqual(readdirSync(join(into.root, "blobs/sha256")), []);
    assert.deepEqual(readdirSync(join(into.root, "ingest")), []);
    assert.equal(proxy.ranges.length, 1, "a mismatch is not retried");
  } finally {
    await proxy.close();
  }
});

test("an interrupted download resumes with a Range request", async () => {
  const s = store();
  const img = await buildImage(s, { layerBytes: 2_000_000 });
  await push(new RegistryClient(), s, parseReference(`${plain.domain}/faulty/cut`), img, "v1");
  const proxy = await startFaultyProxy(plain.url, { kind: "cut", afterBytes: 700_000 });
  try {
    const into = store();
    const layer = img.blobs[0]!;
    await new RegistryClient().fetchBlob(parseReference(`${proxy.domain}/faulty/cut`), layer, into);
    assert.deepEqual(await into.read(layer.digest), await s.read(layer.digest));
    assert.equal(proxy.ranges[0], "");
    assert.match(proxy.ranges[1] ?? "", /^bytes=\d+-$/);
    const resumedAt = Number(/bytes=(\d+)-/.exec(proxy.ranges[1]!)![1]);
    assert.ok(resumedAt > 0 && resumedAt <= 700_000, `resumed at ${resumedAt}`);
  } finally {
    await proxy.close();
  }
});

test("basic auth (htpasswd): refused without or with wrong credentials, works with them", async () => {
  const reg = await startRegistry({ auth: { kind: "htpasswd", username: "alice", password: "s3cret-pw" } });
  try {
    const repo = parseReference(`${reg.domain}/private/app`);
    const s = store();
    const img = await buildImage(s);
    await assert.rejects(
      push(new RegistryClient(), s, repo, img, "v1"),
      (e: unknown) => e instanceof RegistryError && e.status === 401 && /unauthorized/.test(e.message),
    );
    const wrong = new RegistryClient({ settingsFor: () => ({ credentials: { username: "alice", password: "nope" } }) });
    await assert.rejects(push(wrong, s, repo, img, "v1"), (e: unknown) => e instanceof RegistryError && e.status === 401);
    await assert.rejects(wrong.login(reg.domain), /incorrect username or password/);
    const good = new RegistryClient({ settingsFor: () => ({ credentials: { username: "alice", password: "s3cret-pw" } }) });
    await good.login(reg.domain);
    await push(good, s, repo, img, "v1");
    const resolved = await pullAll(good, `${reg.domain}/private/app:v1`, store());
    assert.equal(resolved.manifestDigest, img.manifestDigest);
  } finally {
    await reg.stop();
  }
});

test("token auth: Bearer challenges answered through our token server, tokens cached per scope", async () => {
  const reg = await startRegistry({ auth: { kind: "token", username: "bob", password: "tok-pw-123" } });
  try {
    const repo = parseReference(`${reg.domain}/tok/app`);
    const s = store();
    const img = await buildImage(s);
    await assert.rejects(push(new RegistryClient(), s, repo, img, "v1"), (e: unknown) => e instanceof RegistryError && e.status === 401);
    const client = new RegistryClient({ settingsFor: () => ({ credentials: { username: "bob", password: "tok-pw-123" } }) });
    const before = reg.tokenRequests.length;
    await push(client, s, repo, img, "v1");
    const resolved = await pullAll(client, `${reg.domain}/tok/app:v1`, store());
    assert.equal(resolved.manifestDigest, img.manifestDigest);
    const asked = reg.tokenRequests.slice(before);
    assert.ok(asked.includes("repository:tok/app:pull,push"), asked.join(" | "));
    assert.ok(asked.includes("repository:tok/app:pull"), asked.join(" | "));
    assert.ok(asked.length <= 4, `tokens are cached per scope, got ${asked.length} token requests`);
  } finally {
    await reg.stop();
  }
});

test("a hostile registry cannot fill the agent's memory: manifest, token and error bodies are read only so far", async () => {
  // A server that answers each of its paths with a body that would go on for 64 MiB, counting
  // how much it got to write before the client hung up.
  const { createServer } = await import("node:http");
  const written = new Map<string, number>();
  const ended = new Set<string>();
  const endless = (res: import("node:http").ServerResponse, key: string, status: number, headers: Record<string, string>) => {
    res.writeHead(status, headers);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let n = 0;
    const pump = () => {
      while (n < 64 * 1024 * 1024) {
        n += chunk.length;
        written.set(key, n);
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => {
      written.set(key, n);
      ended.add(key);
    });
    pump();
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/token" && !req.headers.authorization)
      return void res.writeHead(401, { "www-authenticate": `Bearer realm="http://127.0.0.1:${port}/token",service="hostile"` }).end();
    if (url.pathname === "/token") return endless(res, "token", 200, { "content-type": "application/json" });
    if (url.pathname.endsWith("/manifests/big"))
      return endless(res, "manifest", 200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
    if (url.pathname.endsWith("/manifests/error")) return endless(res, "error", 500, { "content-type": "application/json" });
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as import("node:net").AddressInfo).port;
  try {
    // The token server first: every request to this registry needs a token.
    const client = new RegistryClient();
    await assert.rejects(
      client.getManifest(parseReference(`127.0.0.1:${port}/x/y:big`), "big"),
      /token server answered with more than 1 MiB/,
    );
    const plainServer = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/v2/") return void res.writeHead(200).end("{}");
      if (url.pathname.endsWith("/manifests/big"))
        return endless(res, "manifest", 200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
      if (url.pathname.endsWith("/manifests/error")) return endless(res, "error", 500, { "content-type": "application/json" });
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => plainServer.listen(0, "127.0.0.1", r));
    const plainPort = (plainServer.address() as import("node:net").AddressInfo).port;
    try {
      await assert.rejects(client.getManifest(parseReference(`127.0.0.1:${plainPort}/x/y:big`), "big"), /manifest is larger than 4 MiB/);
      await assert.rejects(
        client.getManifest(parseReference(`127.0.0.1:${plainPort}/x/y:error`), "error"),
        (e: unknown) => e instanceof RegistryError && e.message.length < 400 && /registry answered 500/.test(e.message),
      );
    } finally {
      plainServer.closeAllConnections();
      await new Promise((r) => plainServer.close(r));
    }
    // Each count is final once its response has closed.
    await waitFor("every hostile response to close", () => ["token", "manifest", "error"].every((k) => ended.has(k)), 5_000, 10);
    for (const key of ["token", "manifest", "error"]) {
      const n = written.get(key) ?? 0;
      assert.ok(n > 0 && n < 16 * 1024 * 1024, `${key}: the client stopped reading after ${n} bytes, not the whole 64 MiB`);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
