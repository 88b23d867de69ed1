// dockerd's behaviour around a container's filesystem and images, over the Docker API socket:
// `docker diff` (GET …/changes), commit with pause on containers in every state and the image's
// Parent, volume prune by API version and filters, save by ID or of no names, a bad load answered
// in the stream, and `docker cp` seeing volumes and binds of containers that run, stopped, or were
// only created.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import * as tar from "tar";
import { startDockerApi, type DockerApi } from "../src/dockerapi/server.ts";
import { busyboxRootfs } from "../src/images/busybox-rootfs.ts";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";
import { buildTar } from "./snapshots-tar.ts";

let rt: AgentRuntime;
let stateDir: string;
let api: DockerApi;
let socketPath: string;
let hostDir: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  socketPath = join(stateDir, "docker.sock");
  api = await startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) });
  hostDir = mkdtempSync(join(tmpdir(), "berth-fs-compat-"));
});

after(async () => {
  await api?.close();
  await disposeRuntime(rt, stateDir);
  rmSync(hostDir, { recursive: true, force: true });
});

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };

function call(method: string, path: string, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const type = typeof body === "string" ? "application/json" : "application/x-tar";
    const req = request({ socketPath, method, path, headers: body !== undefined ? { "content-type": type } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const json = <T>(r: Reply): T => JSON.parse(r.body.toString()) as T;
const message = (r: Reply) => json<{ message: string }>(r).message;

async function create(body: Record<string, unknown>, version = "1.47"): Promise<string> {
  const r = await call("POST", `/v${version}/containers/create`, JSON.stringify({ Image: "busybox", ...body }));
  assert.equal(r.status, 201, r.body.toString());
  return json<{ Id: string }>(r).Id;
}

async function runToEnd(id: string): Promise<void> {
  assert.equal((await call("POST", `/v1.47/containers/${id}/start`)).status, 204);
  const w = json<{ StatusCode: number }>(await call("POST", `/v1.47/containers/${id}/wait`));
  assert.equal(w.StatusCode, 0);
}

async function logs(id: string): Promise<string> {
  let s = "";
  for await (const e of rt.containers.logs(id)) s += e.line;
  return s;
}

/** The files of a tar body, by path. */
async function untar(body: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const parser = new tar.Parser({
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on("data", (d: Buffer) => chunks.push(d));
      e.on("end", () => files.set(e.path, Buffer.concat(chunks)));
    },
  });
  const ended = new Promise((r) => parser.on("end", r));
  parser.end(body);
  await ended;
  return files;
}

/** Mounts left in the agent's namespace by a stopped container's temporary root. */
const accessMounts = () =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(stateDir) && / \S*\/access-[^ /]*(\/| )/.test(l));

describe("docker-fs compat: changes, commit, prune, save/load, archive on mounts", () => {
  test("GET /containers/{id}/changes lists added, modified and deleted paths as dockerd, running or stopped", async () => {
    const id = await create({
      Cmd: [
        "sh",
        "-c",
        "echo x > /new; echo extra >> /etc/passwd; rm /bin/vi; mkdir -p /d/e; " +
          "rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/only; touch /ready; sleep 1000",
      ],
    });
    assert.equal(
      (await call("GET", `/v1.47/containers/${id}/changes`)).body.toString().trim(),
      "null",
      "a created container changed nothing",
    );
    const { Id: lister } = await rt.containers.create({ Image: "busybox", Cmd: ["ls", "-A", "/usr/sbin"] });
    await rt.containers.start(lister);
    await rt.containers.wait(lister);
    const sbin = (await logs(lister)).split("\n").filter(Boolean);
    assert.ok(sbin.length > 3, "busybox has applets in /usr/sbin");
    await rt.containers.remove(lister);

    assert.equal((await call("POST", `/v1.47/containers/${id}/start`)).status, 204);
    await waitFor("the container's changes", async () => {
      const r = await call("GET", `/v1.47/containers/${id}/changes`);
      return (json<Array<{ Path: string }> | null>(r) ?? []).some((c) => c.Path === "/ready") ? true : null;
    });
    const expected = [
      { Path: "/bin", Kind: 0 },
      { Path: "/bin/vi", Kind: 2 },
      { Path: "/d", Kind: 1 },
      { Path: "/d/e", Kind: 1 },
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/passwd", Kind: 0 },
      { Path: "/new", Kind: 1 },
      { Path: "/ready", Kind: 1 },
      { Path: "/usr", Kind: 0 },
      { Path: "/usr/sbin", Kind: 0 },
      ...sbin.map((n) => ({ Path: `/usr/sbin/${n}`, Kind: 2 })),
      { Path: "/usr/sbin/only", Kind: 1 },
    ].sort((a, b) => (a.Path < b.Path ? -1 : 1));
    const running = await call("GET", `/v1.47/containers/${id}/changes`);
    assert.equal(running.status, 200);
    // /etc/hosts, /proc and the like are the runtime's mount points, never changes (dockerd's init layer).
    assert.deepEqual(json(running), expected);
    await call("POST", `/v1.47/containers/${id}/kill`);
    await call("POST", `/v1.47/containers/${id}/wait`);
    assert.deepEqual(json(await call("GET", `/v1.47/containers/${id}/changes`)), expected, "the same once stopped");
    const missing = await call("GET", "/v1.47/containers/nope/changes");
    assert.equal(missing.status, 404);
    assert.equal(message(missing), "No such container: nope");
    await call("DELETE", `/v1.47/containers/${id}?force=1`);
  });

  test("commit pauses only a running container: exited, created, just-exited and running ones commit; Parent is recorded", async () => {
    const busyboxId = json<{ Id: string }>(await call("GET", "/v1.47/images/busybox/json")).Id;
    const commit = async (id: string) => {
      const r = await call("POST", `/v1.41/commit?container=${id}&pause=1`, "{}");
      assert.equal(r.status, 201, r.body.toString());
      return json<{ Id: string }>(r).Id;
    };
    const exited = await create({ Cmd: ["touch", "/test"] });
    await runToEnd(exited);
    const created = await create({ Cmd: ["true"] });
    // A process that is gone while its record still says running: runc can no longer pause it.
    const gone = await create({ Cmd: ["sleep", "1000"] });
    await call("POST", `/v1.47/containers/${gone}/start`);
    const running = await create({ Cmd: ["sleep", "1000"] });
    await call("POST", `/v1.47/containers/${running}/start`);
    const pid = (rt.containers.inspect(gone).State as { Pid: number }).Pid;
    process.kill(pid, "SIGKILL");
    await waitFor("the process to be gone", async () => (existsSync(`/proc/${pid}`) ? null : true));
    const images: string[] = [];
    for (const id of [exited, created, gone, running]) images.push(await commit(id));
    assert.equal((rt.containers.inspect(running).State as { Status: string }).Status, "running", "thawed after the commit");

    const img = json<{ Parent: string; Id: string }>(await call("GET", `/v1.41/images/${images[0]}/json`));
    assert.equal(img.Parent, busyboxId);
    const rows = json<Array<{ Id: string; ParentId: string }>>(await call("GET", "/v1.47/images/json"));
    assert.equal(rows.find((r) => r.Id === images[0])?.ParentId, busyboxId);
    const history = json<Array<{ Id: string; Tags: string[] | null }>>(await call("GET", `/v1.47/images/${images[0]}/history`));
    assert.equal(history[0]!.Id, images[0]);
    assert.deepEqual([history[1]!.Id, history[1]!.Tags], [busyboxId, ["busybox:latest"]], "the parent's row names it");

    // An image others were committed from cannot go by ID, force or not.
    const refused = await call("DELETE", `/v1.47/images/${busyboxId}?force=1`);
    assert.equal(refused.status, 409);
    assert.equal(
      message(refused),
      `conflict: unable to delete ${busyboxId.slice(7, 19)} (cannot be forced) - image has dependent child images`,
    );
    for (const id of [exited, created, gone, running]) await call("DELETE", `/v1.47/containers/${id}?force=1`);
    for (const i of images) {
      const del = await call("DELETE", `/v1.47/images/${i}?force=1`);
      assert.equal(del.status, 200, del.body.toString());
      assert.ok(json<Array<{ Deleted?: string }>>(del).some((d) => d.Deleted === i));
    }
    assert.equal((await call("GET", "/v1.47/images/busybox/json")).status, 200, "the tagged parent stays");
  });

  test("volume prune: every unused volume before 1.42, anonymous ones from 1.42, all=true and label! as dockerd", async () => {
    const mk = (Name: string, Labels: Record<string, string> = {}) =>
      call("POST", "/v1.47/volumes/create", JSON.stringify({ Name, Labels }));
    const prune = async (version: string, filters?: Record<string, string[]>) => {
      const q = filters ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : "";
      const r = await call("POST", `/v${version}/volumes/prune${q}`);
      return { r, deleted: r.status === 200 ? (json<{ VolumesDeleted: string[] | null }>(r).VolumesDeleted ?? []).sort() : [] };
    };
    // An anonymous volume, left behind by a container removed without -v.
    const c = await create({ Volumes: { "/anon": {} } });
    const anon = json<{ Mounts: Array<{ Name: string }> }>(await call("GET", `/v1.47/containers/${c}/json`)).Mounts[0]!.Name;
    await call("DELETE", `/v1.47/containers/${c}`);
    await mk("named-a");
    await mk("named-keep", { keep: "1" });
    assert.deepEqual((await prune("1.42")).deleted, [anon], "only the anonymous one from 1.42");
    const bad = await prune("1.42", { all: ["maybe"] });
    assert.equal(bad.r.status, 400);
    assert.equal(message(bad.r), "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax");
    assert.deepEqual((await prune("1.42", { all: ["true"], "label!": ["keep=1"] })).deleted, ["named-a"]);
    // Before 1.42 dockerd adds all=true whatever the client says.
    assert.deepEqual((await prune("1.41", { all: ["false"] })).deleted, ["named-keep"]);
  });

  test("save by ID carries no tags and no repositories file; by name:tag that tag; by repository all its tags", async () => {
    const id = json<{ Id: string }>(await call("GET", "/v1.47/images/busybox/json")).Id;
    assert.equal((await call("POST", "/v1.47/images/busybox/tag?repo=busybox&tag=extra")).status, 201);
    try {
      const manifestOf = async (path: string) => {
        const r = await call("GET", path);
        assert.equal(r.status, 200, r.body.toString());
        const files = await untar(r.body);
        return { manifest: JSON.parse(files.get("manifest.json")!.toString()) as Array<{ RepoTags: string[] | null }>, files };
      };
      for (const path of [
        `/v1.41/images/get?names=${id}`,
        `/v1.41/images/${id.slice(7)}/get`,
        `/v1.41/images/get?names=${id.slice(7, 19)}`,
      ]) {
        const byId = await manifestOf(path);
        assert.deepEqual(
          byId.manifest.map((m) => m.RepoTags),
          [null],
          path,
        );
        assert.ok(!byId.files.has("repositories"), path);
      }
      const byTag = await manifestOf("/v1.41/images/get?names=busybox:extra");
      assert.deepEqual(
        byTag.manifest.map((m) => m.RepoTags),
        [["busybox:extra"]],
      );
      assert.deepEqual(JSON.parse(byTag.files.get("repositories")!.toString()), { busybox: { extra: topLayer(byTag.files) } });
      const byRepo = await manifestOf("/v1.41/images/get?names=busybox");
      assert.deepEqual(
        byRepo.manifest.map((m) => [...(m.RepoTags ?? [])].sort()),
        [["busybox:extra", "busybox:latest"]],
      );

      // Loaded back, the ID-only archive names the image by its ID.
      const archive = await call("GET", `/v1.41/images/get?names=${id}`);
      const loaded = await call("POST", "/v1.41/images/load?quiet=0", archive.body);
      assert.equal(loaded.status, 200);
      assert.match(loaded.body.toString(), new RegExp(`"Loaded image ID: ${id}\\\\n"`));
    } finally {
      await call("DELETE", "/v1.47/images/busybox:extra");
    }
  });

  test("save with no names is an archive of no images (manifest null, as dockerd 20.10 writes it), and it loads as nothing", async () => {
    const r = await call("GET", "/v1.41/images/get");
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers["content-type"], "application/x-tar");
    const files = await untar(r.body);
    assert.deepEqual([...files.keys()], ["manifest.json"]);
    assert.equal(JSON.parse(files.get("manifest.json")!.toString()), null);
    const loaded = await call("POST", "/v1.41/images/load?quiet=0", r.body);
    assert.equal(loaded.status, 200);
    assert.equal(loaded.body.toString(), "", "nothing loaded, nothing said");
  });

  test("a bad load archive is a 200 with the error in the JSON stream, as dockerd answers", async () => {
    for (const body of [Buffer.from("abc"), buildTar([{ path: "hello.txt", data: "not an image\n", mode: 0o644 }]), Buffer.alloc(0)]) {
      for (const quiet of ["0", "1"]) {
        const r = await call("POST", `/v1.41/images/load?quiet=${quiet}`, body);
        assert.equal(r.status, 200, r.body.toString());
        assert.equal(r.headers["content-type"], "application/json");
        const lines = r.body
          .toString()
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { error?: string; errorDetail?: { message: string } });
        const last = lines.at(-1)!;
        assert.ok(last.errorDetail?.message, r.body.toString());
        assert.equal(last.error, last.errorDetail!.message);
      }
    }
    assert.equal((await call("GET", "/_ping")).status, 200, "still serving");
  });

  test("docker cp sees volumes (named, anonymous, the image's) and binds of created, stopped and running containers", async () => {
    // An image that declares a VOLUME, as docker-py's and compose's images do.
    const rootfs = await busyboxRootfs();
    await rt.images
      .import(rootfs.tar, { reference: "fs-compat-vol:1", changes: ["VOLUME /imgvol", 'CMD ["sh"]'] })
      .finally(() => rootfs.cleanup());
    const ro = join(hostDir, "ro");
    const rw = join(hostDir, "rw");
    for (const d of [ro, rw]) rmSync(d, { recursive: true, force: true });
    mkdirSync(ro);
    mkdirSync(rw);
    writeFileSync(join(ro, "given.txt"), "from the host\n");
    const id = await create({
      Image: "fs-compat-vol:1",
      Cmd: ["sh", "-c", "cat /data/put.txt /imgvol/put.txt /anon/put.txt /rw/put.txt /ro/given.txt"],
      Volumes: { "/anon": {} },
      HostConfig: { Binds: ["cp-named:/data", `${ro}:/ro:ro`, `${rw}:/rw`] },
    });
    const mounts = json<{ Mounts: Array<{ Destination: string; Source: string }> }>(
      await call("GET", `/v1.47/containers/${id}/json`),
    ).Mounts;
    const sourceOf = (dest: string) => mounts.find((m) => m.Destination === dest)!.Source;
    const put = (path: string, name: string, data: string) =>
      call("PUT", `/v1.47/containers/${id}/archive?path=${encodeURIComponent(path)}`, buildTar([{ path: name, data, mode: 0o644 }]));

    // Only created: uploads land in the volumes and binds, as the container will see them.
    for (const dir of ["/data", "/imgvol", "/anon", "/rw"]) {
      const r = await put(dir, "put.txt", `${dir}\n`);
      assert.equal(r.status, 200, `${dir}: ${r.body.toString()}`);
    }
    for (const dir of ["/data", "/imgvol", "/anon", "/rw"]) assert.equal(readFileSync(join(sourceOf(dir), "put.txt"), "utf8"), `${dir}\n`);
    const roPut = await put("/ro", "x.txt", "no\n");
    assert.equal(roPut.status, 400);
    assert.equal(message(roPut), "mounted volume is marked read-only");
    assert.ok(!existsSync(join(ro, "x.txt")));
    const head = await call("HEAD", `/v1.47/containers/${id}/archive?path=/ro/given.txt`);
    assert.equal(head.status, 200, "a bind's files are there before the start");
    await waitFor("the temporary root to be unmounted", async () => (accessMounts().length === 0 ? true : null));

    await runToEnd(id);
    assert.equal(await logs(id), "/data\n/imgvol\n/anon\n/rw\nfrom the host\n");

    // Stopped: the same files, the /etc files of its run, and a link in a volume cannot lead out of the container.
    const got = await untar((await call("GET", `/v1.47/containers/${id}/archive?path=/data/put.txt`)).body);
    assert.equal(got.get("put.txt")?.toString(), "/data\n");
    const hosts = await untar((await call("GET", `/v1.47/containers/${id}/archive?path=/etc/hosts`)).body);
    assert.match(hosts.get("hosts")?.toString() ?? "", /localhost/);
    const whole = await untar((await call("GET", `/v1.47/containers/${id}/archive?path=/`)).body);
    const inVolume = [...whole.keys()].find((k) => k.endsWith("imgvol/put.txt"));
    assert.equal(
      inVolume && whole.get(inVolume)?.toString(),
      "/imgvol\n",
      `a copy of / goes through the volumes: ${[...whole.keys()].filter((k) => k.includes("imgvol"))}`,
    );
    const outside = `berth-fs-compat-${process.pid}`;
    writeFileSync(join(sourceOf("/data"), "placeholder"), "");
    const link = await call(
      "PUT",
      `/v1.47/containers/${id}/archive?path=/data`,
      buildTar([{ path: "out", type: "2", linkpath: `../../../../../../../../../tmp/${outside}` }]),
    );
    assert.equal(link.status, 200, link.body.toString());
    assert.equal(
      (await call("PUT", `/v1.47/containers/${id}/archive?path=/tmp`, buildTar([{ path: outside, type: "5", mode: 0o755 }]))).status,
      200,
    );
    assert.equal((await put("/data/out", "through.txt", "inside\n")).status, 200);
    assert.ok(!existsSync(join("/tmp", outside)), "nothing written on the host's /tmp");
    const through = await untar((await call("GET", `/v1.47/containers/${id}/archive?path=/tmp/${outside}/through.txt`)).body);
    assert.equal(through.get("through.txt")?.toString(), "inside\n", "the link led to the container's own /tmp");
    await waitFor("the temporary root to be unmounted", async () => (accessMounts().length === 0 ? true : null));

    // Running: the read-only bind is refused with dockerd's message too.
    await call("POST", `/v1.47/containers/${id}/start`);
    const runningRo = await put("/ro", "x.txt", "no\n");
    assert.equal(runningRo.status, 400);
    assert.equal(message(runningRo), "mounted volume is marked read-only");
    await call("DELETE", `/v1.47/containers/${id}?force=1&v=1`);
    await call("DELETE", "/v1.47/volumes/cp-named");
    await call("DELETE", "/v1.47/images/fs-compat-vol:1");
  });

  test("a read-only root filesystem takes uploads only into its volumes", async () => {
    const id = await create({ Cmd: ["true"], HostConfig: { ReadonlyRootfs: true, Binds: ["cp-ro-root:/data"] } });
    const tarball = buildTar([{ path: "f.txt", data: "x\n", mode: 0o644 }]);
    const root = await call("PUT", `/v1.47/containers/${id}/archive?path=/tmp`, tarball);
    assert.equal(root.status, 400);
    assert.equal(message(root), "container rootfs is marked read-only");
    assert.equal((await call("PUT", `/v1.47/containers/${id}/archive?path=/data`, tarball)).status, 200);
    await call("DELETE", `/v1.47/containers/${id}?force=1`);
    await call("DELETE", "/v1.47/volumes/cp-ro-root");
  });
});

/** The top layer's diffID (hex) of the one image in a saved archive, as its `repositories` file names it. */
function topLayer(files: Map<string, Buffer>): string {
  const manifest = JSON.parse(files.get("manifest.json")!.toString()) as Array<{ Layers: string[] }>;
  return manifest[0]!.Layers.at(-1)!.split("/").at(-1)!;
}
