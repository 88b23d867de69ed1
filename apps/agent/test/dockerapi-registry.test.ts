// The registry-facing image endpoints against registries on loopback, answered as dockerd 20.10
// answers: GET /images/search through the v1 search API (term, limit, filters, credentials,
// errors, bounded answers), and the status of a pull that fails before or after its progress.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { startDockerApi, type DockerApi } from "../src/dockerapi/server.ts";
import { splitSearchTerm } from "../src/dockerapi/image-search.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import type { AgentRuntime } from "../src/runtime.ts";

let rt: AgentRuntime;
let stateDir: string;
let api: DockerApi;
let socketPath: string;

/** What the fake registry was asked, newest last. */
const asked: Array<{ path: string; query: URLSearchParams; headers: IncomingHttpHeaders }> = [];
let registry: Server;
let port: number;
/** Bytes of the oversized search answer the registry got to write before the agent hung up. */
let hugeWritten = 0;

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const layer = Buffer.from("not really a layer");
const config = Buffer.from(
  JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] }, config: {} }),
);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: sha(config), size: config.length },
    layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: sha(layer), size: layer.length }],
  }),
);

const RESULTS = [
  { name: "team/web", description: "the web app", star_count: 12, is_official: false, is_automated: true },
  { name: "web", description: "official web", star_count: 3000, is_official: true, is_automated: false },
  { name: "team/old", description: null, star_count: 0, is_official: false, is_automated: false },
];

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  socketPath = join(stateDir, "docker.sock");
  api = await startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) });
  registry = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://registry");
    asked.push({ path: url.pathname, query: url.searchParams, headers: req.headers });
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (url.pathname === "/v1/search") {
      const q = url.searchParams.get("q");
      if (q === "refused") return void json(503, { detail: "down for maintenance" });
      if (q === "garbled") return void res.writeHead(200).end("<html>not json</html>");
      if (q === "huge") {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (hugeWritten < 64 * 1024 * 1024) {
            hugeWritten += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        return void pump();
      }
      return void json(200, { query: q, num_results: RESULTS.length, results: RESULTS });
    }
    if (url.pathname === "/v2/") return void json(200, {});
    if (url.pathname === "/v2/half/manifests/latest")
      return void res.writeHead(200, { "content-type": "application/vnd.docker.distribution.manifest.v2+json" }).end(manifest);
    if (url.pathname === `/v2/half/blobs/${sha(config)}`) return void res.writeHead(200).end(config);
    if (url.pathname.includes("/manifests/"))
      return void json(404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: {} }] });
    json(404, { errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }] });
  });
  await new Promise<void>((r) => registry.listen(0, "127.0.0.1", r));
  port = (registry.address() as AddressInfo).port;
});

after(async () => {
  registry?.closeAllConnections();
  await new Promise((r) => registry?.close(r));
  await api?.close();
  await disposeRuntime(rt, stateDir);
});

type Reply = { status: number; headers: IncomingHttpHeaders; body: Buffer };

function call(method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const message = (r: Reply) => (JSON.parse(r.body.toString()) as { message: string }).message;
const search = (query: Record<string, string>, headers: Record<string, string> = {}) =>
  call("GET", `/v1.41/images/search?${new URLSearchParams(query)}`, headers);

test("search asks the named registry's v1 search API and answers its results as dockerd shapes them", async () => {
  const r = await search({ term: `127.0.0.1:${port}/team/web`, limit: "5" });
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(JSON.parse(r.body.toString()), [
    { star_count: 12, is_official: false, name: "team/web", is_automated: true, description: "the web app" },
    { star_count: 3000, is_official: true, name: "web", is_automated: false, description: "official web" },
    { star_count: 0, is_official: false, name: "team/old", is_automated: false, description: "" },
  ]);
  const sent = asked.at(-1)!;
  assert.equal(sent.path, "/v1/search");
  assert.equal(sent.query.get("q"), "team/web", "the registry gets the term without its host");
  assert.equal(sent.query.get("n"), "5");
  assert.equal(sent.headers["x-docker-token"], "true");
  assert.equal(sent.headers.authorization, undefined, "no credentials, none sent");
  await search({ term: `127.0.0.1:${port}/x` });
  assert.equal(asked.at(-1)!.query.get("n"), "25", "dockerd's default limit");
});

test("search filters: is-official, is-automated and stars, with dockerd's refusals", async () => {
  const names = async (filters: Record<string, string[]>) => {
    const r = await search({ term: `127.0.0.1:${port}/web`, filters: JSON.stringify(filters) });
    assert.equal(r.status, 200, r.body.toString());
    return (JSON.parse(r.body.toString()) as Array<{ name: string }>).map((x) => x.name);
  };
  assert.deepEqual(await names({ "is-official": ["true"] }), ["web"]);
  assert.deepEqual(await names({ "is-official": ["false"] }), ["team/web", "team/old"]);
  assert.deepEqual(await names({ "is-automated": ["true"] }), ["team/web"]);
  assert.deepEqual(await names({ stars: ["10"] }), ["team/web", "web"]);
  assert.deepEqual(await names({ stars: ["10", "100"] }), ["web"], "the highest of several star filters");
  const refused: Array<[Record<string, string[]>, string]> = [
    [{ "is-official": ["maybe"] }, "Invalid filter 'is-official=[maybe]'"],
    [{ "is-automated": ["true", "false"] }, "Invalid filter 'is-automated=[true false]'"],
    [{ stars: ["many"] }, "Invalid filter 'stars=many'"],
    [{ color: ["red"] }, "invalid filter 'color'"],
  ];
  const before = asked.length;
  for (const [filters, expected] of refused) {
    const r = await search({ term: `127.0.0.1:${port}/web`, filters: JSON.stringify(filters) });
    assert.equal(r.status, 400, JSON.stringify(filters));
    assert.equal(message(r), expected);
  }
  assert.equal(asked.length, before, "a refused request never reaches the registry");
});

test("search limits and terms: dockerd's checks and statuses", async () => {
  const cases: Array<[Record<string, string>, number, string]> = [
    [{ term: `127.0.0.1:${port}/web`, limit: "0" }, 400, "Limit 0 is outside the range of [1, 100]"],
    [{ term: `127.0.0.1:${port}/web`, limit: "101" }, 400, "Limit 101 is outside the range of [1, 100]"],
    [{ term: `127.0.0.1:${port}/web`, limit: "ten" }, 500, 'strconv.Atoi: parsing "ten": invalid syntax'],
    [{ term: "http://127.0.0.1/web" }, 500, 'Invalid repository name (ex: "registry.domain.tld/myrepos")'],
    [{ term: "-bad.example/web" }, 500, "invalid index name (-bad.example). Cannot begin or end with a hyphen"],
  ];
  for (const [query, status, expected] of cases) {
    const r = await search(query);
    assert.equal(r.status, status, JSON.stringify(query));
    assert.equal(message(r), expected);
  }
  assert.deepEqual(splitSearchTerm("busybox"), { domain: "docker.io", term: "busybox" });
  assert.deepEqual(
    splitSearchTerm("library/busybox"),
    { domain: "docker.io", term: "busybox" },
    "Hub's index knows official images by their short name",
  );
  assert.deepEqual(splitSearchTerm("team/app"), { domain: "docker.io", term: "team/app" });
  assert.deepEqual(splitSearchTerm("index.docker.io/library/redis"), { domain: "docker.io", term: "redis" });
  assert.deepEqual(splitSearchTerm("localhost/app"), { domain: "localhost", term: "app" });
  assert.deepEqual(splitSearchTerm("registry.example:5000/team/app"), { domain: "registry.example:5000", term: "team/app" });
});

test("search errors: an unreachable registry, a refusal, an answer that is not one; credentials from X-Registry-Auth", async () => {
  const down = await search({ term: "127.0.0.1:1/web" });
  assert.equal(down.status, 500);
  assert.match(
    message(down),
    /^invalid registry endpoint "http:\/\/127\.0\.0\.1:1\/v1\/": Get "http:\/\/127\.0\.0\.1:1\/v1\/search\?q=web&n=25": /,
  );
  const refused = await search({ term: `127.0.0.1:${port}/refused` });
  assert.equal(refused.status, 500);
  assert.equal(message(refused), "Unexpected status code 503");
  const garbled = await search({ term: `127.0.0.1:${port}/garbled` });
  assert.equal(garbled.status, 500);
  assert.match(message(garbled), /^error decoding registry search results: /);
  const huge = await search({ term: `127.0.0.1:${port}/huge` });
  assert.equal(huge.status, 500);
  assert.match(message(huge), /larger than 1 MiB/);
  assert.ok(hugeWritten < 16 * 1024 * 1024, `the agent stopped reading early (the registry wrote ${hugeWritten} bytes)`);

  const auth = Buffer.from(JSON.stringify({ username: "scout", password: "s3cret", serveraddress: `127.0.0.1:${port}` })).toString(
    "base64url",
  );
  const r = await search({ term: `127.0.0.1:${port}/team/web` }, { "X-Registry-Auth": auth });
  assert.equal(r.status, 200);
  assert.equal(asked.at(-1)!.headers.authorization, `Basic ${Buffer.from("scout:s3cret").toString("base64")}`);
});

test("a pull that fails before any progress is an error status; after progress, an error in a 200 stream", async () => {
  const missing = await call("POST", `/v1.41/images/create?fromImage=127.0.0.1:${port}/nothing&tag=latest`);
  assert.equal(missing.status, 404, missing.body.toString());
  assert.match(message(missing), /not found: manifest unknown/);
  const unreachable = await call("POST", "/v1.41/images/create?fromImage=127.0.0.1:1/nothing&tag=latest");
  assert.equal(unreachable.status, 500, unreachable.body.toString());
  assert.match(message(unreachable), /cannot reach registry 127\.0\.0\.1:1/);
  // The manifest and config are there, the layer is not: the progress has begun when the pull fails.
  const half = await call("POST", `/v1.41/images/create?fromImage=127.0.0.1:${port}/half&tag=latest`);
  assert.equal(half.status, 200);
  const lines = half.body
    .toString()
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { status?: string; error?: string; errorDetail?: { message: string } });
  assert.equal(lines[0]!.status, "Pulling from half");
  assert.ok(
    lines.some((l) => l.status === "Pulling fs layer"),
    half.body.toString(),
  );
  assert.match(lines.at(-1)!.error ?? "", /blob/);
  assert.equal(lines.at(-1)!.errorDetail?.message, lines.at(-1)!.error);
});
