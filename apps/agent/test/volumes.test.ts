// Volumes and mounts with real runc: named volumes that outlive containers, anonymous volumes,
// copy-up from the image, read-only binds, tmpfs sizes, and Docker's parsing errors.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";

let rt: AgentRuntime;
let stateDir: string;
const hostDir = mkdtempSync(join(tmpdir(), "berth-binds-"));

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});

after(async () => {
  await disposeRuntime(rt, stateDir);
  rmSync(hostDir, { recursive: true, force: true });
});

async function run(cmd: string, extra: Record<string, unknown> = {}): Promise<{ id: string; code: number; out: string }> {
  const c = rt.containers;
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", cmd], ...extra });
  await c.start(Id);
  const { StatusCode } = await c.wait(Id);
  let out = "";
  for await (const e of c.logs(Id)) out += e.line;
  return { id: Id, code: StatusCode, out };
}

test("a named volume keeps its data across container removal and a new container", async () => {
  const v = rt.volumes;
  const created = v.create({ Name: "keep", Labels: { team: "a" } });
  assert.equal(created.Mountpoint, join(stateDir, "volumes", "keep", "_data"));
  assert.deepEqual(v.create({ Name: "keep" }).Labels, { team: "a" }, "create is idempotent");
  const w = await run("echo persisted > /data/f", { HostConfig: { Binds: ["keep:/data"] } });
  assert.equal(w.code, 0);
  const mounts = rt.containers.inspect(w.id).Mounts;
  assert.deepEqual(mounts, [
    {
      Type: "volume",
      Name: "keep",
      Source: created.Mountpoint,
      Destination: "/data",
      Driver: "local",
      Mode: "",
      RW: true,
      Propagation: "",
    },
  ]);
  // In use (even by a stopped container): refused with Docker's message, unless forced.
  assert.throws(() => v.remove("keep"), { message: `remove keep: volume is in use - [${w.id}]` });
  await rt.containers.remove(w.id);
  const r = await run("cat /data/f", { HostConfig: { Mounts: [{ Type: "volume", Source: "keep", Target: "/data", ReadOnly: true }] } });
  assert.equal(r.out, "persisted\n");
  const ro = await run("echo x > /data/g", { HostConfig: { Binds: ["keep:/data:ro"] } });
  assert.notEqual(ro.code, 0, "a read-only volume refuses writes");
  assert.deepEqual(
    v.list({ dangling: false }).map((x) => x.Name),
    ["keep"],
  );
  assert.deepEqual(
    v.list({ label: ["team=a"] }).map((x) => x.Name),
    ["keep"],
  );
  assert.deepEqual(v.list({ label: ["team=b"] }), []);
  await rt.containers.remove(r.id);
  await rt.containers.remove(ro.id);
  assert.deepEqual(
    v.list({ dangling: true }).map((x) => x.Name),
    ["keep"],
  );
  v.remove("keep");
  assert.throws(() => v.inspect("keep"), { message: "get keep: no such volume" });
  assert.throws(() => v.create({ Name: "bad/name" }), /includes invalid characters for a local volume name/);
});

test("copy-up: an empty new volume receives the image's content at its path, unless nocopy", async () => {
  const r = await run("ls /etc/passwd && echo ok", { HostConfig: { Binds: ["etc-copy:/etc"] } });
  assert.equal(r.out, "/etc/passwd\nok\n");
  assert.ok(existsSync(join(rt.volumes.mountpoint("etc-copy"), "passwd")), "the image's /etc is in the volume");
  assert.equal(
    readFileSync(join(rt.volumes.mountpoint("etc-copy"), "passwd"), "utf8")
      .split("\n")[0]!
      .split(":")[0],
    "root",
  );
  const none = await run("ls -A /etc | wc -l", { HostConfig: { Binds: ["etc-empty:/etc:nocopy"] } });
  assert.equal(none.out.trim(), "0");
  // Only a new, empty volume is filled: what is in it already is left alone.
  writeFileSync(join(rt.volumes.mountpoint("etc-empty"), "mine"), "x");
  const again = await run("ls /etc", { HostConfig: { Binds: ["etc-empty:/etc"] } });
  assert.equal(again.out, "mine\n");
  for (const id of [r.id, none.id, again.id]) await rt.containers.remove(id);
  rt.volumes.remove("etc-copy");
  rt.volumes.remove("etc-empty");
});

test("binds: read-write and read-only; -v creates a missing source, --mount refuses it", async () => {
  writeFileSync(join(hostDir, "in"), "from host\n");
  const rw = await run("cat /mnt/in; echo from container > /mnt/out", { HostConfig: { Binds: [`${hostDir}:/mnt`] } });
  assert.equal(rw.out, "from host\n");
  assert.equal(readFileSync(join(hostDir, "out"), "utf8"), "from container\n");
  const ro = await run("touch /mnt/new 2>&1; echo rc=$?", { HostConfig: { Binds: [`${hostDir}:/mnt:ro`] } });
  assert.match(ro.out, /Read-only file system/);
  assert.match(ro.out, /rc=1/);
  assert.equal(existsSync(join(hostDir, "new")), false);
  const made = join(hostDir, "made", "deep");
  const mk = await run("true", { HostConfig: { Binds: [`${made}:/x`] } });
  assert.equal(mk.code, 0);
  assert.ok(existsSync(made), "-v created the missing host directory");
  await assert.rejects(
    rt.containers.create({ Image: "busybox", HostConfig: { Mounts: [{ Type: "bind", Source: join(hostDir, "absent"), Target: "/x" }] } }),
    {
      message: `invalid mount config for type "bind": bind source path does not exist: ${join(hostDir, "absent")}`,
    },
  );
  for (const id of [rw.id, ro.id, mk.id]) await rt.containers.remove(id);
});

test("tmpfs: the size is enforced; anonymous volumes from Volumes go with --rm", async () => {
  const t = await run("dd if=/dev/zero of=/t/f bs=1024 count=2048 2>&1; echo rc=$?; df -k /t | tail -1", {
    HostConfig: { Tmpfs: { "/t": "size=1m" } },
  });
  assert.match(t.out, /No space left on device/);
  assert.match(t.out, /rc=1/);
  const m = await run("dd if=/dev/zero of=/t/f bs=1024 count=512 2>&1 >/dev/null; echo rc=$?", {
    HostConfig: { Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1024 * 1024 } }] },
  });
  assert.match(m.out, /rc=0/);
  await rt.containers.remove(t.id);
  await rt.containers.remove(m.id);

  const before = new Set(rt.volumes.list().map((v) => v.Name));
  const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["sh", "-c", "echo hi > /data/x"], Volumes: { "/data": {} } });
  const anon = rt.volumes.list().filter((v) => !before.has(v.Name));
  assert.equal(anon.length, 1);
  assert.match(anon[0]!.Name, /^[0-9a-f]{64}$/);
  assert.ok("com.docker.volume.anonymous" in anon[0]!.Labels);
  await rt.containers.start(Id);
  await rt.containers.wait(Id);
  await rt.containers.remove(Id, { volumes: true });
  assert.equal(rt.volumes.get(anon[0]!.Name), undefined, "rm -v removed the anonymous volume");
  // prune: anonymous volumes only, unless all.
  rt.volumes.create({ Name: "named-left" });
  const orphan = rt.volumes.create({ Labels: { "com.docker.volume.anonymous": "" } });
  assert.deepEqual(rt.volumes.prune().VolumesDeleted, [orphan.Name]);
  assert.deepEqual(rt.volumes.prune({ all: true }).VolumesDeleted, ["named-left"]);
});

test("Docker's parsing errors for -v, --mount and duplicates", async () => {
  const create = (host: Record<string, unknown>) => rt.containers.create({ Image: "busybox", HostConfig: host });
  await assert.rejects(create({ Binds: ["/a:/b:xx"] }), { message: "invalid mode: xx" });
  await assert.rejects(create({ Binds: ["a:b:c:d"] }), { message: "invalid volume specification: 'a:b:c:d'" });
  await assert.rejects(create({ Binds: ["vol:relative"] }), /invalid mount path: 'relative' mount path must be absolute/);
  await assert.rejects(create({ Binds: ["/a:/"] }), /destination can't be '\/'/);
  await assert.rejects(create({ Binds: ["/a:/x", "vv:/x"] }), { message: "Duplicate mount point: /x" });
  await assert.rejects(create({ Tmpfs: { "/t": "size=lots" } }), { message: "invalid size: 'lots'" });
  // Removed containers' directories may still be on their way out (".removed-<id>", deleted in the background).
  const dirs = readdirSync(join(stateDir, "containers")).filter((f) => !f.startsWith(".removed-"));
  assert.equal(dirs.length, 0, "no half-made container is left");
});
