// The Docker API's edge: versions, Docker's error shape and status codes, and untrusted input
// (malformed JSON, unknown fields, absurd values, garbage on the socket) answered with 4xx while
// the agent keeps serving. Real runtime (runc, conmon) behind a socket in a temp dir.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { startDockerApi, type DockerApi } from "../src/dockerapi/server.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { busyboxRootfs } from "../src/images/busybox-rootfs.ts";
import { formatPlatform, hostPlatform } from "../src/registry/media-types.ts";
import type { AgentRuntime } from "../src/runtime.ts";
import { dockerClis, negotiatedVersion } from "@berth/test-support/docker-cli";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
let api: DockerApi;
let socketPath: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  socketPath = join(stateDir, "docker.sock");
  api = await startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) });
});

after(async () => {
  await api?.close();
  await disposeRuntime(rt, stateDir);
});

function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const message = (r: { body: Buffer }) => (JSON.parse(r.body.toString()) as { message: string }).message;

test("ping, version prefixes and negotiation bounds", async () => {
  const ping = await call("GET", "/_ping");
  assert.equal(ping.status, 200);
  assert.equal(ping.body.toString(), "OK");
  assert.equal(ping.headers["api-version"], "1.47");
  assert.equal((await call("HEAD", "/_ping")).status, 200);
  assert.equal((await call("GET", "/v1.41/_ping")).status, 200);
  const tooNew = await call("GET", "/v1.99/version");
  assert.equal(tooNew.status, 400);
  assert.equal(message(tooNew), "client version 1.99 is too new. Maximum supported API version is 1.47");
  const tooOld = await call("GET", "/v1.12/version");
  assert.equal(tooOld.status, 400);
  assert.match(message(tooOld), /client version 1\.12 is too old\. Minimum supported API version is 1\.24/);
  assert.equal((await call("GET", "/v1.47/nothing/here")).status, 404);
  assert.equal((await call("DELETE", "/v1.47/_ping")).status, 405);
});

test("untrusted bodies and queries get 4xx with a clear message", async () => {
  const cases: Array<[string, string, string | undefined, number, RegExp]> = [
    ["POST", "/v1.47/containers/create", "{not json", 400, /invalid JSON in request body/],
    ["POST", "/v1.47/containers/create", "[1,2]", 400, /must be a JSON object/],
    ["POST", "/v1.47/containers/create", JSON.stringify({ Image: "busybox", HostConfig: { Memory: 1e30 } }), 400, /HostConfig\.Memory/],
    [
      "POST",
      "/v1.47/containers/create",
      JSON.stringify({ Image: "busybox", HostConfig: { BlkioWeight: 300 } }),
      400,
      /HostConfig\.BlkioWeight is not supported by Berth/,
    ],
    ["POST", "/v1.47/containers/create", JSON.stringify({ Image: "busybox", Cmd: "x".repeat(200_000) }), 400, /Cmd/],
    ["POST", "/v1.47/containers/create?name=..bad", JSON.stringify({ Image: "busybox" }), 400, /Invalid container name/],
    ["POST", "/v1.47/containers/create", JSON.stringify({ Image: "no such image!" }), 400, /invalid reference format/],
    ["GET", "/v1.47/containers/json?all=maybe", undefined, 400, /invalid boolean value for all/],
    ["GET", "/v1.47/containers/json?filters=%7Bnope", undefined, 400, /invalid filter/],
    ["GET", "/v1.47/containers/json?filters=%7B%22color%22%3A%5B%22red%22%5D%7D", undefined, 400, /invalid filter 'color'/],
    ["GET", "/v1.47/containers/json?limit=-7", undefined, 400, /out of range/],
    ["POST", "/v1.47/volumes/create", JSON.stringify({ Name: "v", Size: 3 }), 400, /Size/],
    ["POST", "/v1.47/networks/create", JSON.stringify({ Name: "n", ConfigOnly: true }), 400, /ConfigOnly is not supported by Berth/],
    ["GET", "/v1.47/containers/%E0%A4%A/json", undefined, 400, /malformed path/],
  ];
  for (const [method, path, body, status, pattern] of cases) {
    const r = await call(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
    assert.match(message(r), pattern, `${method} ${path}`);
  }
  const huge = await call("POST", "/v1.47/containers/create", Buffer.alloc(5 << 20, 0x20));
  assert.equal(huge.status, 413);
  assert.equal((await call("GET", "/_ping")).status, 200, "still serving");
});

test("garbage on the socket closes that connection only", async () => {
  const reply = await new Promise<string>((resolve) => {
    const s = connect(socketPath);
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.write("\x00\x01\x02 definitely not http\r\n\r\n");
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.equal((await call("GET", "/_ping")).status, 200, "still serving");
});

test("Docker's errors: no such container, name conflicts, 304 for a second start", async () => {
  const missing = await call("GET", "/v1.47/containers/nope/json");
  assert.equal(missing.status, 404);
  assert.equal(message(missing), "No such container: nope");
  const created = await call(
    "POST",
    "/v1.47/containers/create?name=api-edge",
    JSON.stringify({
      Image: "busybox",
      Cmd: ["sleep", "30"],
      HostConfig: { NetworkMode: "default", ConsoleSize: [24, 80], IpcMode: "private" },
      NetworkingConfig: { EndpointsConfig: {} },
    }),
  );
  assert.equal(created.status, 201, created.body.toString());
  const { Id } = JSON.parse(created.body.toString()) as { Id: string };
  const again = await call("POST", "/v1.47/containers/create?name=api-edge", JSON.stringify({ Image: "busybox" }));
  assert.equal(again.status, 409);
  assert.match(message(again), /^Conflict\. The container name "\/api-edge" is already in use by container "[0-9a-f]{64}"\./);
  assert.equal((await call("POST", `/v1.47/containers/${Id}/start`)).status, 204);
  const second = await call("POST", `/v1.47/containers/${Id}/start`);
  assert.equal(second.status, 304);
  assert.equal(second.body.length, 0);
  assert.equal((await call("DELETE", `/v1.47/containers/${Id}?force=1`)).status, 204);
});

test("DELETE /containers/PARENT/ALIAS: with link=1 the legacy link goes, without it the linked container (dockerd)", async () => {
  const create = async (name: string, hostConfig: Record<string, unknown> = {}) => {
    const r = await call("POST", `/v1.41/containers/create?name=${name}`, JSON.stringify({ Image: "busybox", HostConfig: hostConfig }));
    assert.equal(r.status, 201, r.body.toString());
    return (JSON.parse(r.body.toString()) as { Id: string }).Id;
  };
  const links = async (name: string) =>
    (JSON.parse((await call("GET", `/v1.41/containers/${name}/json`)).body.toString()) as { HostConfig: { Links: string[] | null } })
      .HostConfig.Links;
  const target = await create("link-target");
  const parent = await create("link-parent", { Links: ["link-target:db", "link-target:cache"] });
  try {
    assert.deepEqual(await links("link-parent"), ["/link-target:/link-parent/db", "/link-target:/link-parent/cache"]);
    const none = await call("DELETE", "/v1.41/containers/link-parent/nope?link=1");
    assert.equal(none.status, 404);
    assert.equal(message(none), "No such container: link-parent/nope");
    const noParent = await call("DELETE", "/v1.41/containers/no-parent/db?link=1");
    assert.equal(noParent.status, 404);
    assert.equal(message(noParent), "No such container: no-parent/db");
    assert.equal((await call("DELETE", "/v1.41/containers/link-parent/db?link=True")).status, 204);
    assert.deepEqual(await links("link-parent"), ["/link-target:/link-parent/cache"], "only that link went");
    assert.equal((await call("GET", "/v1.41/containers/link-target/json")).status, 200, "the linked container stays");
    const own = await call("DELETE", "/v1.41/containers/link-target?link=1");
    assert.equal(own.status, 500);
    assert.equal(message(own), "Conflict, cannot remove the default link name of the container");
    // Without link=1 the name is the linked container's, and it is what goes.
    assert.equal((await call("DELETE", "/v1.41/containers/link-parent/cache")).status, 204);
    assert.equal((await call("GET", `/v1.41/containers/${target}/json`)).status, 404);
  } finally {
    for (const id of [parent, target]) await call("DELETE", `/v1.41/containers/${id}?force=1`);
  }
});

test("lenient as dockerd: unknown keys ignored, keys matched case-insensitively, null as unset (docker-py, compose)", async () => {
  const created = await call(
    "POST",
    "/v1.41/containers/create?name=api-lenient",
    JSON.stringify({
      image: "busybox",
      Cmd: ["sleep", "30"],
      Bogus: 1,
      Healthcheck: { Test: ["CMD", "true"], Interval: null, Timeout: null, Retries: null, StartPeriod: null },
      HostConfig: { Bogus: 2, memory: 64 * 1024 * 1024, VolumeDriver: "" },
      // docker-py's containers.run(network=...) names the network with no endpoint settings.
      NetworkingConfig: { none: null },
    }),
  );
  assert.equal(created.status, 201, created.body.toString());
  const { Id } = JSON.parse(created.body.toString()) as { Id: string };
  try {
    const inspect = JSON.parse((await call("GET", `/v1.41/containers/${Id}/json`)).body.toString()) as {
      Config: { Image: string; Healthcheck?: Record<string, unknown> };
      HostConfig: { Memory: number };
    };
    assert.equal(inspect.Config.Image, "busybox");
    assert.deepEqual(inspect.Config.Healthcheck, { Test: ["CMD", "true"] });
    assert.equal(inspect.HostConfig.Memory, 64 * 1024 * 1024);
    // A setting Berth knows and cannot honour is still refused, by its canonical name.
    const refused = await call("POST", "/v1.41/containers/create", JSON.stringify({ Image: "busybox", HostConfig: { blkioWeight: 300 } }));
    assert.equal(refused.status, 400);
    assert.match(message(refused), /HostConfig\.BlkioWeight is not supported by Berth/);

    assert.equal((await call("POST", `/v1.41/containers/${Id}/start`)).status, 204);
    // docker-py's exec create body: its Container key, lower-case detachKeys, null Env.
    const exec = await call(
      "POST",
      `/v1.41/containers/${Id}/exec`,
      JSON.stringify({ Container: Id, Cmd: ["true"], AttachStdout: true, Env: null, detachKeys: "ctrl-q" }),
    );
    assert.equal(exec.status, 201, exec.body.toString());
    const execId = (JSON.parse(exec.body.toString()) as { Id: string }).Id;
    const execInspect = JSON.parse((await call("GET", `/v1.41/exec/${execId}/json`)).body.toString()) as { DetachKeys?: string };
    assert.equal(execInspect.DetachKeys, "ctrl-q");
  } finally {
    await call("DELETE", `/v1.41/containers/${Id}?force=1`);
  }
});

test("exec start frames its output unless the start body says Tty, whatever the exec was created with", async () => {
  const created = await call("POST", "/v1.41/containers/create", JSON.stringify({ Image: "busybox", Cmd: ["sleep", "30"] }));
  const { Id } = JSON.parse(created.body.toString()) as { Id: string };
  try {
    await call("POST", `/v1.41/containers/${Id}/start`);
    const run = async (createTty: boolean, startTty: boolean) => {
      const body = JSON.stringify({ Cmd: ["echo", "hi"], Tty: createTty, AttachStdout: true, AttachStderr: true });
      const exec = JSON.parse((await call("POST", `/v1.41/containers/${Id}/exec`, body)).body.toString()) as { Id: string };
      const r = await call("POST", `/v1.41/exec/${exec.Id}/start`, JSON.stringify({ Detach: false, Tty: startTty }));
      assert.equal(r.status, 200);
      return r.body;
    };
    // A TTY exec started with Tty=false (docker-py's exec_start default): stdout frames around the terminal's output.
    const framed = await run(true, false);
    assert.equal(framed[0], 1, "a stdout frame");
    assert.equal(framed.subarray(8).toString(), "hi\r\n");
    // And the other way round: raw bytes.
    assert.equal((await run(false, true)).toString(), "hi\n");
    assert.equal((await run(false, false))[0], 1);
  } finally {
    await call("DELETE", `/v1.41/containers/${Id}?force=1`);
  }
});

test("swarm, plugin and distribution paths answer as a dockerd outside a swarm with no plugins", async () => {
  const leave = await call("POST", "/v1.41/swarm/leave?force=1");
  assert.equal(leave.status, 503);
  assert.equal(message(leave), "This node is not part of a swarm");
  for (const [method, path] of [
    ["GET", "/v1.41/swarm"],
    ["GET", "/v1.41/nodes"],
    ["GET", "/v1.41/services"],
    ["POST", "/v1.41/services/create"],
    ["GET", "/v1.41/tasks/abc"],
    ["DELETE", "/v1.41/secrets/abc"],
    ["POST", "/v1.41/configs/create"],
  ] as const) {
    const r = await call(method, path, method === "POST" ? "{}" : undefined);
    assert.equal(r.status, 503, `${method} ${path}`);
    assert.match(message(r), /^This node is not a swarm manager\./);
  }
  const init = await call("POST", "/v1.41/swarm/init", "{}");
  assert.equal(init.status, 503);
  assert.match(message(init), /Berth control plane/);
  const plugins = await call("GET", "/v1.41/plugins");
  assert.equal(plugins.status, 200);
  assert.deepEqual(JSON.parse(plugins.body.toString()), []);
  const plugin = await call("GET", "/v1.41/plugins/vieux/sshfs:latest/json");
  assert.equal(plugin.status, 404);
  assert.equal(message(plugin), 'plugin "vieux/sshfs:latest" not found');
  const badRef = await call("GET", "/v1.41/distribution/Not%20A%20Ref/json");
  assert.equal(badRef.status, 400);
});

test("logs without a TTY are multiplexed: stdout and stderr frames", async () => {
  const created = await call(
    "POST",
    "/v1.47/containers/create",
    JSON.stringify({ Image: "busybox", Cmd: ["sh", "-c", "echo out; echo err >&2"] }),
  );
  const { Id } = JSON.parse(created.body.toString()) as { Id: string };
  await call("POST", `/v1.47/containers/${Id}/start`);
  const wait = await call("POST", `/v1.47/containers/${Id}/wait`);
  assert.deepEqual(JSON.parse(wait.body.toString()), { StatusCode: 0 });
  const logs = await call("GET", `/v1.47/containers/${Id}/logs?stdout=1&stderr=1`);
  assert.equal(logs.headers["content-type"], "application/vnd.docker.multiplexed-stream");
  const frames: Array<[number, string]> = [];
  for (let off = 0; off < logs.body.length; ) {
    const size = logs.body.readUInt32BE(off + 4);
    frames.push([logs.body[off]!, logs.body.subarray(off + 8, off + 8 + size).toString()]);
    off += 8 + size;
  }
  assert.deepEqual(frames.sort(), [
    [1, "out\n"],
    [2, "err\n"],
  ]);
  const none = await call("GET", `/v1.47/containers/${Id}/logs`);
  assert.equal(none.status, 400);
  assert.equal(message(none), "Bad parameters: you must choose at least one stream");
  await call("DELETE", `/v1.47/containers/${Id}`);
});

test("a second agent cannot take a socket that is being served", async () => {
  await assert.rejects(
    startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) }),
    /another process is serving on/,
  );
  assert.equal((await call("GET", "/_ping")).status, 200);
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
function makeCertificates(dir: string, prefix: string): void {
  const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-days", "2", "-subj", `/CN=${prefix}-ca`, "-keyout", `${prefix}-ca.key`, "-out", `${prefix}-ca.pem`);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const who of ["server", "client"]) {
    ossl("req", ...ec, "-subj", `/CN=${prefix}-${who}`, "-keyout", `${prefix}-${who}.key`, "-out", `${prefix}-${who}.csr`);
    ossl(
      "x509",
      "-req",
      "-in",
      `${prefix}-${who}.csr`,
      "-CA",
      `${prefix}-ca.pem`,
      "-CAkey",
      `${prefix}-ca.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${who}.ext`,
      "-out",
      `${prefix}-${who}.pem`,
    );
  }
}

test("TCP is served only over TLS to clients with a certificate from the given CA", async () => {
  makeCertificates(stateDir, "good");
  makeCertificates(stateDir, "other");
  const tls = await startDockerApi({
    runtime: rt,
    socketPath: join(stateDir, "docker-tls.sock"),
    stateDir,
    logger: pino({ level: "silent" }),
    tcp: {
      host: "127.0.0.1",
      port: 0,
      cert: join(stateDir, "good-server.pem"),
      key: join(stateDir, "good-server.key"),
      ca: join(stateDir, "good-ca.pem"),
    },
  });
  try {
    // With each docker CLI the tests use: Debian's 20.10 (API 1.41) and the machine's own.
    for (const bin of dockerClis()) {
      const docker = (client: string | null) =>
        new Promise<{ code: number; out: string }>((resolve) => {
          const auth = client
            ? ["--tlscert", join(stateDir, `${client}-client.pem`), "--tlskey", join(stateDir, `${client}-client.key`)]
            : [];
          execFile(
            bin,
            [
              "--tlsverify",
              "--tlscacert",
              join(stateDir, "good-ca.pem"),
              ...auth,
              "-H",
              `tcp://127.0.0.1:${tls.tcpPort}`,
              "version",
              "--format",
              "{{.Server.APIVersion}} {{.Client.DefaultAPIVersion}} {{.Client.APIVersion}}",
            ],
            { env: { ...process.env, DOCKER_CONFIG: stateDir } },
            (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
          );
        });
      const good = await docker("good");
      assert.equal(good.code, 0, `${bin}: ${good.out}`);
      const [server, clientDefault, client] = good.out.trim().split(" ");
      assert.equal(server, "1.47", bin);
      assert.equal(client, negotiatedVersion(clientDefault!, "1.47"), bin);
      assert.notEqual((await docker("other")).code, 0, `${bin}: a certificate from another CA is refused`);
      assert.notEqual((await docker(null)).code, 0, `${bin}: no client certificate is refused`);
    }
  } finally {
    await tls.close();
  }
});

test("older API versions get dockerd's answers for them: images, system df, build cache", async () => {
  // An untagged image sharing busybox's one layer.
  const rootfs = await busyboxRootfs();
  const untagged = await rt.images.import(rootfs.tar, { changes: ['CMD ["true"]'] }).finally(() => rootfs.cleanup());
  try {
    type Row = { Id: string; RepoTags: string[]; RepoDigests: string[]; Size: number; VirtualSize?: number; SharedSize: number };
    const list = async (v: string, query = "") => JSON.parse((await call("GET", `/v${v}/images/json${query}`)).body.toString()) as Row[];
    const old = await list("1.41");
    const bb = old.find((i) => i.RepoTags.includes("busybox:latest"))!;
    assert.ok(bb.Size > 0);
    assert.equal(bb.VirtualSize, bb.Size, "VirtualSize until 1.44");
    assert.deepEqual(old.find((i) => i.Id === untagged.id)!.RepoTags, ["<none>:<none>"], "placeholders for untagged images until 1.43");
    assert.deepEqual(old.find((i) => i.Id === untagged.id)!.RepoDigests, ["<none>@<none>"]);
    const current = await list("1.47");
    assert.equal(current.find((i) => i.Id === bb.Id)!.VirtualSize, undefined);
    assert.deepEqual(current.find((i) => i.Id === untagged.id)!.RepoTags, []);
    // `filter` (a reference pattern) was dropped in 1.41.
    assert.deepEqual(
      (await list("1.40", "?filter=busy*")).map((i) => i.Id),
      [bb.Id],
    );
    assert.equal((await list("1.41", "?filter=busy*")).length, current.length);

    const inspect = async (v: string) =>
      JSON.parse((await call("GET", `/v${v}/images/busybox/json`)).body.toString()) as Record<string, unknown>;
    const oldInspect = await inspect("1.41");
    assert.equal(oldInspect.VirtualSize, bb.Size);
    assert.equal(oldInspect.Container, "");
    assert.equal((oldInspect.ContainerConfig as { Image: string }).Image, "");
    const newInspect = await inspect("1.47");
    assert.ok(!("VirtualSize" in newInspect) && !("ContainerConfig" in newInspect) && !("Container" in newInspect));

    type Df = {
      Images?: Row[];
      Containers?: unknown[];
      Volumes?: unknown[];
      BuildCache?: unknown[];
      BuilderSize?: number;
      LayersSize?: number;
    };
    const df = async (v: string, query = "") => {
      const r = await call("GET", `/v${v}/system/df${query}`);
      assert.equal(r.status, 200, r.body.toString());
      return JSON.parse(r.body.toString()) as Df;
    };
    const oldDf = await df("1.41", "?type=volume");
    assert.equal(oldDf.BuilderSize, 0, "BuilderSize until 1.42");
    assert.ok(oldDf.Images && oldDf.Containers && oldDf.Volumes, "type is ignored before 1.42");
    const dfBusybox = oldDf.Images.find((i) => i.Id === bb.Id)!;
    assert.equal(dfBusybox.VirtualSize, bb.Size);
    assert.equal(dfBusybox.SharedSize, bb.Size, "its only layer is also the untagged image's");
    assert.equal(oldDf.LayersSize, bb.Size, "the shared layer counts once");
    const volumesOnly = await df("1.47", "?type=volume");
    assert.deepEqual(Object.keys(volumesOnly), ["Volumes"]);
    const bad = await call("GET", "/v1.47/system/df?type=bogus");
    assert.equal(bad.status, 400);
    assert.equal(message(bad), "unknown object type: bogus");

    const prune = await call("POST", "/v1.41/build/prune");
    assert.equal(prune.status, 200);
    assert.deepEqual(JSON.parse(prune.body.toString()), { CachesDeleted: [], SpaceReclaimed: 0 });
  } finally {
    await rt.images.remove(untagged.id, { force: true });
  }
});

test("older API versions: create, update, volume prune, stream types and exec start as dockerd has them", async () => {
  const create = (v: string, body: Record<string, unknown>) =>
    call("POST", `/v${v}/containers/create`, JSON.stringify({ Image: "busybox", Cmd: ["sleep", "30"], ...body }));
  // One network per container until 1.44.
  const two = await create("1.41", { NetworkingConfig: { EndpointsConfig: { a: {}, b: {} } } });
  assert.equal(two.status, 400);
  assert.equal(message(two), "Container cannot be created with multiple network endpoints: a, b");
  // KernelMemory: refused where dockerd would apply it, ignored from 1.42 as dockerd does.
  const km = await create("1.41", { HostConfig: { KernelMemory: 1 << 20 } });
  assert.equal(km.status, 400);
  assert.match(message(km), /HostConfig\.KernelMemory is not supported by Berth/);
  const ids: string[] = [];
  const created = async (r: Awaited<ReturnType<typeof call>>) => {
    assert.equal(r.status, 201, r.body.toString());
    const { Id } = JSON.parse(r.body.toString()) as { Id: string };
    ids.push(Id);
    return Id;
  };
  try {
    await created(await create("1.47", { HostConfig: { KernelMemory: 1 << 20 } }));
    // Annotations came with 1.43: ignored before, and Berth has none to offer after.
    await created(await create("1.42", { HostConfig: { Annotations: { a: "b" } } }));
    assert.match(
      message(await create("1.43", { HostConfig: { Annotations: { a: "b" } } })),
      /HostConfig\.Annotations is not supported by Berth/,
    );

    // platform (1.41 and up): a local image for another platform is a 404 (the CLI then pulls), ignored before 1.41.
    const foreign = hostPlatform().architecture === "amd64" ? "linux/arm64" : "linux/amd64";
    const wrong = await call(
      "POST",
      `/v1.41/containers/create?platform=${encodeURIComponent(foreign)}`,
      JSON.stringify({ Image: "busybox" }),
    );
    assert.equal(wrong.status, 404);
    assert.match(
      message(wrong),
      new RegExp(
        `^image with reference busybox was found but its platform \\(linux/${hostPlatform().architecture}(/\\w+)?\\) ` +
          `does not match the specified platform \\(${foreign}\\)$`,
      ),
    );
    await created(
      await call(
        "POST",
        `/v1.41/containers/create?platform=${encodeURIComponent(formatPlatform(hostPlatform()))}`,
        JSON.stringify({ Image: "busybox" }),
      ),
    );
    await created(
      await call("POST", `/v1.40/containers/create?platform=${encodeURIComponent(foreign)}`, JSON.stringify({ Image: "busybox" })),
    );

    // update: the CLI sends an empty restart policy with every change; the container's stays.
    const id = await created(await create("1.41", { HostConfig: { RestartPolicy: { Name: "always" } } }));
    const upd = await call(
      "POST",
      `/v1.41/containers/${id}/update`,
      JSON.stringify({ Memory: 64 << 20, MemorySwap: 128 << 20, KernelMemory: 0, RestartPolicy: { Name: "", MaximumRetryCount: 0 } }),
    );
    assert.equal(upd.status, 200, upd.body.toString());
    const info = JSON.parse((await call("GET", `/v1.41/containers/${id}/json`)).body.toString()) as {
      HostConfig: { Memory: number; RestartPolicy: { Name: string } };
    };
    assert.equal(info.HostConfig.RestartPolicy.Name, "always");
    assert.equal(info.HostConfig.Memory, 64 << 20);

    // Multiplexed logs are labelled raw-stream before 1.42, as dockerd did; the frames are the same.
    const echo = await created(await create("1.41", { Cmd: ["echo", "framed"] }));
    await call("POST", `/v1.41/containers/${echo}/start`);
    await call("POST", `/v1.41/containers/${echo}/wait`);
    for (const [v, type] of [
      ["1.41", "application/vnd.docker.raw-stream"],
      ["1.42", "application/vnd.docker.multiplexed-stream"],
    ] as const) {
      const logs = await call("GET", `/v${v}/containers/${echo}/logs?stdout=1`);
      assert.equal(logs.headers["content-type"], type, v);
      assert.deepEqual([logs.body[0], logs.body.subarray(8).toString()], [1, "framed\n"], v);
    }

    // Sizes with ?size: the writable layer, and everything the container sees (its image's layers too).
    const sized = JSON.parse((await call("GET", "/v1.41/containers/json?all=1&size=1")).body.toString()) as Array<{
      Id: string;
      SizeRw: number;
      SizeRootFs: number;
    }>;
    const bbSize = (JSON.parse((await call("GET", "/v1.41/images/busybox/json")).body.toString()) as { Size: number }).Size;
    const row = sized.find((c) => c.Id === echo)!;
    assert.equal(row.SizeRootFs, row.SizeRw + bbSize);

    // A detached start of a TTY exec with Tty=false (docker-py's default) runs it as created.
    const running = await created(await create("1.41", {}));
    await call("POST", `/v1.41/containers/${running}/start`);
    const exec = await call("POST", `/v1.41/containers/${running}/exec`, JSON.stringify({ Cmd: ["true"], Tty: true }));
    const { Id: execId } = JSON.parse(exec.body.toString()) as { Id: string };
    const started = await call("POST", `/v1.41/exec/${execId}/start`, JSON.stringify({ Detach: true, Tty: false }));
    assert.equal(started.status, 200, started.body.toString());
    const done = await waitFor("the detached exec's exit", async () => {
      const e = JSON.parse((await call("GET", `/v1.41/exec/${execId}/json`)).body.toString()) as {
        Running: boolean;
        ExitCode: number | null;
        ProcessConfig: { tty: boolean };
      };
      return e.Running ? null : e;
    });
    assert.deepEqual([done.ExitCode, done.ProcessConfig.tty], [0, true]);
  } finally {
    for (const id of ids) await call("DELETE", `/v1.47/containers/${id}?force=1`);
  }

  // Volume prune took every unused volume before 1.42, only anonymous ones from then on.
  const vol = async () => assert.equal((await call("POST", "/v1.47/volumes/create", JSON.stringify({ Name: "prunable" }))).status, 201);
  await vol();
  const pruneNew = JSON.parse((await call("POST", "/v1.42/volumes/prune")).body.toString()) as { VolumesDeleted: string[] | null };
  assert.ok(!(pruneNew.VolumesDeleted ?? []).includes("prunable"));
  const pruneOld = JSON.parse((await call("POST", "/v1.41/volumes/prune")).body.toString()) as { VolumesDeleted: string[] | null };
  assert.deepEqual(pruneOld.VolumesDeleted, ["prunable"]);

  // CheckDuplicate (sent before 1.44) is what Berth always does, so it passes the body check.
  const net = await call("POST", "/v1.41/networks/create", JSON.stringify({ Name: "n", CheckDuplicate: true }));
  assert.doesNotMatch(message(net), /CheckDuplicate/);
});

describe("network bodies at the API edge (endpoint settings, IPAM, IPv6)", () => {
  // This agent runs without bridge networking: a body that passes the checks gets that 400, one that does not names its field.
  const off = /bridge networking is not enabled/;
  test("connect: endpoint settings clients send are accepted, the daemon's operational fields ignored, bad shapes refused", async () => {
    const connect = (EndpointConfig: unknown) =>
      call("POST", "/v1.41/networks/n/connect", JSON.stringify({ Container: "c", EndpointConfig }));
    const accepted = [
      { IPAMConfig: { IPv4Address: "10.1.0.5", IPv6Address: "fd00::5", LinkLocalIPs: ["169.254.8.8"] } },
      { MacAddress: "02:42:ac:11:00:02", DriverOpts: { "com.docker-py.setting": "on" }, Links: ["up:bar"], Aliases: ["a"] },
      // docker-py's key case, nulls, and what an inspect replayed carries.
      { ipamconfig: { ipv6address: "fd00::5" }, MacAddress: null, IPAddress: "10.1.0.9", EndpointID: "x", DNSNames: ["a"] },
    ];
    for (const ep of accepted) {
      const r = await connect(ep);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(message(r), off, JSON.stringify(ep));
    }
    const refused: Array<[unknown, RegExp]> = [
      [{ GwPriority: 5 }, /EndpointConfig\.GwPriority is not supported by Berth \(got 5\)/],
      [{ MacAddress: 12 }, /MacAddress/],
      [{ DriverOpts: { a: 1 } }, /DriverOpts/],
      [{ IPAMConfig: { LinkLocalIPs: "169.254.8.8" } }, /LinkLocalIPs/],
    ];
    for (const [ep, pattern] of refused) {
      const r = await connect(ep);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(message(r), pattern);
    }
  });

  test("create: EnableIPv6 and IPAM configs (any key case) pass; malformed IPAM is refused by field", async () => {
    const create = (body: unknown) => call("POST", "/v1.41/networks/create", JSON.stringify(body));
    const ok = await create({
      Name: "test 01",
      EnableIPv6: true,
      CheckDuplicate: true,
      IPAM: { driver: "default", config: [{ subnet: "10.5.0.0/24" }, { Subnet: "fd00:5::/64", AuxiliaryAddresses: { r: "fd00:5::2" } }] },
    });
    assert.match(message(ok), off);
    const bad = await create({ Name: "x", IPAM: { Config: [{ Subnet: 10 }] } });
    assert.equal(bad.status, 400);
    assert.match(message(bad), /IPAM\.Config\.0\.Subnet/);
    const aux = await create({ Name: "x", IPAM: { Config: [{ Subnet: "10.5.0.0/24", AuxiliaryAddresses: ["10.5.0.2"] }] } });
    assert.equal(aux.status, 400);
    assert.match(message(aux), /AuxiliaryAddresses/);
  });
});
