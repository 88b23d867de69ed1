// The HostConfig options docker clients send routinely, on real runc: supplementary groups,
// devices and device cgroup rules, swappiness, runtime and volume driver names, namespaces shared
// with the host or another container, DNS settings and extra hosts, volumes-from, bind
// propagation, OOM score, log drivers, and the exit codes of commands that cannot run.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import type { AgentRuntime } from "../src/runtime.ts";
import type { ContainerService } from "../src/containers/service.ts";
import { cgroupV2 } from "../src/runtime/index.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";

let rt: AgentRuntime;
let stateDir: string;
let c: ContainerService;
let scratch: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  c = rt.containers;
  scratch = mkdtempSync(join(tmpdir(), "berth-hostopts-"));
});

after(async () => {
  await disposeRuntime(rt, stateDir);
  rmSync(scratch, { recursive: true, force: true });
});

async function output(id: string): Promise<string> {
  let s = "";
  for await (const e of c.logs(id)) s += e.line;
  return s;
}

/** Runs a busybox shell command to completion; its exit code and output. */
async function run(cmd: string, extra: Record<string, unknown> = {}): Promise<{ id: string; code: number; out: string }> {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", cmd], ...extra });
  await c.start(Id);
  const { StatusCode } = await c.wait(Id);
  return { id: Id, code: StatusCode, out: await output(Id) };
}

/** A long-running busybox container. */
async function daemon(name: string, extra: Record<string, unknown> = {}, cmd = "sleep 300"): Promise<string> {
  const { Id } = await c.create({ Image: "busybox", Cmd: ["sh", "-c", cmd], ...extra }, name);
  await c.start(Id);
  return Id;
}

/** Runs an exec to its end: its exit code and its stdout and stderr together. */
async function execRun(id: string, cfg: Parameters<AgentRuntime["execs"]["create"]>[1]): Promise<{ exitCode: number; output: string }> {
  const { Id } = rt.execs.create(id, { AttachStdout: true, AttachStderr: true, ...cfg });
  const s = await rt.execs.start(Id);
  let output = "";
  s.stdout.on("data", (d: Buffer) => (output += d.toString()));
  s.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exitCode = await s.exit;
  await Promise.all([finished(s.stdout), s.stderr ? finished(s.stderr) : null]);
  return { exitCode, output };
}

async function refusal(config: Record<string, unknown>, name?: string): Promise<string> {
  const e = await c.create({ Image: "busybox", Cmd: ["true"], ...config }, name).then(
    () => null,
    (err: unknown) => err as Error,
  );
  assert.ok(e, `expected a refusal of ${JSON.stringify(config)}`);
  return e.message;
}

test("GroupAdd: names from the image's /etc/group and numbers become supplementary groups, also of execs", async () => {
  const r = await run("id -G", { HostConfig: { GroupAdd: ["daemon", "1234"] } });
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.out.trim().split(" ").map(Number), [0, 1, 1234]);
  const { Id } = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { GroupAdd: ["nosuchgroup"] } });
  await assert.rejects(c.start(Id), /Unable to find group nosuchgroup: no matching entries in group file/);
  const id = await daemon("groups-exec", { HostConfig: { GroupAdd: ["nogroup"] } });
  const exec = await execRun(id, { Cmd: ["id", "-G"], User: "daemon" });
  assert.equal(exec.output.trim(), "1 65534", "an exec as another user keeps the container's extra groups");
  await c.remove(id, { force: true });
});

test("Devices and DeviceCgroupRules: a host device under another path, and a cgroup rule allowing mknod'ed nodes", async () => {
  const dev = await run("ls -l /dev/berthnull && echo hi > /dev/berthnull && echo ok", {
    HostConfig: { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/berthnull", CgroupPermissions: "rwm" }] },
  });
  assert.equal(dev.code, 0, dev.out);
  assert.match(dev.out, /^crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .*\/dev\/berthnull\nok\n$/);
  // The device and its cgroup permission reach runc's spec as given (r: read only).
  const ro = await run("true", {
    HostConfig: { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/berthnull", CgroupPermissions: "r" }] },
  });
  const spec = JSON.parse(readFileSync(join(stateDir, "containers", ro.id, "bundle", "config.json"), "utf8")) as {
    linux: { devices: Array<Record<string, unknown>>; resources: { devices: Array<Record<string, unknown>> } };
  };
  assert.deepEqual(spec.linux.devices, [{ path: "/dev/berthnull", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }]);
  assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, type: "c", major: 1, minor: 3, access: "r" });
  // A node the container makes itself (CAP_MKNOD is a default capability) opens only with a rule for it. Major
  // 240 is for local use and has no driver: allowed, the open finds no device; denied, the cgroup refuses it.
  const script = "mknod /tmp/node c 240 0 && cat /tmp/node 2>&1; true";
  const without = await run(script);
  assert.match(without.out, /Operation not permitted/);
  const withRule = await run(script, { HostConfig: { DeviceCgroupRules: ["c 240:* rm"] } });
  assert.match(withRule.out, /No such device/);
  assert.match(await refusal({ HostConfig: { DeviceCgroupRules: ["c 1:5 rwx"] } }), /invalid device cgroup format 'c 1:5 rwx'/);
  assert.match(await refusal({ HostConfig: { Devices: [{ PathOnHost: "/dev/berth-nope" }] } }), /error gathering device information/);
});

test("MemorySwappiness, OomScoreAdj, Runtime, VolumeDriver, Isolation and CgroupnsMode as dockerd has them", async () => {
  const created = await c.create({
    Image: "busybox",
    Cmd: ["cat", "/proc/self/oom_score_adj"],
    HostConfig: { MemorySwappiness: 10, OomScoreAdj: 300, Runtime: "runc", VolumeDriver: "local" },
  });
  // cgroup v1 applies swappiness; on v2 dockerd discards it with this warning, and so does Berth.
  assert.deepEqual(
    created.Warnings,
    cgroupV2()
      ? ["Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded."]
      : [],
  );
  await c.start(created.Id);
  await c.wait(created.Id);
  assert.equal((await output(created.Id)).trim(), "300");
  const hc = c.inspect(created.Id).HostConfig;
  assert.equal(hc.MemorySwappiness, 10);
  assert.equal(hc.Runtime, "runc");
  assert.equal(hc.Isolation, "");
  assert.equal(hc.CgroupnsMode, cgroupV2() ? "private" : "host");
  assert.equal(hc.IpcMode, "private");
  assert.match(await refusal({ HostConfig: { Runtime: "kata" } }), /unknown or invalid runtime name: kata/);
  // Another volume driver is refused where a volume would come from it (-v and VOLUME paths), as dockerd looks it up only then.
  const convoy = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { VolumeDriver: "convoy" } });
  assert.equal(c.inspect(convoy.Id).HostConfig.VolumeDriver, "convoy");
  await c.remove(convoy.Id);
  for (const config of [
    { HostConfig: { VolumeDriver: "convoy", Binds: ["convoyvol:/data"] } },
    { Volumes: { "/data": {} }, HostConfig: { VolumeDriver: "convoy" } },
  ])
    assert.match(await refusal(config), /error looking up volume plugin convoy: plugin "convoy" not found/);
  assert.equal(rt.volumes.get("convoyvol"), undefined, "no volume was made for it");
  // Real-time CPU budget: kept and shown (applied where the kernel has RT group scheduling, else dockerd's warning).
  const realtime = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 500 } });
  const rtHost = c.inspect(realtime.Id).HostConfig;
  assert.deepEqual([rtHost.CpuRealtimePeriod, rtHost.CpuRealtimeRuntime], [1000, 500]);
  const rtSupported = !cgroupV2() && existsSync("/sys/fs/cgroup/cpu/cpu.rt_runtime_us");
  assert.deepEqual(realtime.Warnings, rtSupported ? [] : ["Your kernel does not support CPU real-time scheduler"]);
  await c.remove(realtime.Id);
  assert.match(
    await refusal({ HostConfig: { CpuRealtimePeriod: 500, CpuRealtimeRuntime: 1000 } }),
    /cpu-rt-runtime cannot be higher than cpu-rt-period/,
  );
  assert.match(await refusal({ HostConfig: { Isolation: "hyperv" } }), /Invalid isolation: "hyperv" - linux only supports 'default'/);
  // A private cgroup namespace shows the container its own cgroup as the root.
  const ns = await run("cat /proc/self/cgroup", { HostConfig: { CgroupnsMode: "private" } });
  assert.equal(ns.code, 0, ns.out);
  assert.ok(
    ns.out
      .split("\n")
      .filter(Boolean)
      .every((l) => l.endsWith(":/")),
    ns.out,
  );
});

test("Runtime crun: where it can run, a container of the second OCI runtime runs, execs, pauses and stops beside runc's", async () => {
  // npm test's setup installs crun. On a hybrid cgroup v1/v2 host crun refuses to run anything, so
  // there the agent does not offer it, and says why.
  const why = c.runc.whyUnusable("crun");
  if (why) {
    assert.match(why, /hybrid cgroup/);
    assert.match(
      await refusal({ HostConfig: { Runtime: "crun" } }),
      /unknown or invalid runtime name: crun \(installed, but it cannot run/,
    );
    return;
  }
  assert.ok(c.runc.names().includes("crun"), "crun is installed by npm test's setup");
  const id = await daemon("on-crun", { HostConfig: { Runtime: "crun" } }, "echo started; sleep 300");
  assert.equal(c.inspect(id).HostConfig.Runtime, "crun");
  assert.equal((await execRun(id, { Cmd: ["sh", "-c", "echo in-crun"] })).output, "in-crun\n");
  assert.ok(execFileSync("crun", ["--root", join(stateDir, "crun"), "list"], { encoding: "utf8" }).includes(id), "crun holds its state");
  assert.ok(!execFileSync("runc", ["--root", join(stateDir, "runc"), "list"], { encoding: "utf8" }).includes(id), "runc does not");
  await c.pause(id);
  assert.equal(c.inspect(id).State.Status, "paused");
  await c.unpause(id);
  await c.stop(id, 1);
  assert.equal(c.inspect(id).State.Status, "exited");
  assert.equal(await output(id), "started\n");
  await c.remove(id);
  assert.ok(!execFileSync("crun", ["--root", join(stateDir, "crun"), "list"], { encoding: "utf8" }).includes(id), "gone from crun");
});

test("PID, IPC and UTS namespaces: the host's, another container's, and IPC none and shareable", async () => {
  const host = await run("hostname; cat /proc/1/cmdline | tr '\\0' ' '", { HostConfig: { PidMode: "host", UTSMode: "host" } });
  assert.equal(host.code, 0, host.out);
  const [name, init] = host.out.split("\n");
  assert.equal(name, hostname());
  assert.notEqual(init?.trim(), "sh -c hostname; cat /proc/1/cmdline | tr '\\0' ' '", "pid 1 is the host's init");
  const donor = await daemon(
    "ns-donor",
    { Hostname: "donor", HostConfig: { IpcMode: "shareable" } },
    "echo shared > /dev/shm/mark; sleep 300",
  );
  await waitFor(
    "the donor's /dev/shm mark",
    async () => (await execRun(donor, { Cmd: ["cat", "/dev/shm/mark"] })).output === "shared\n" || null,
  );
  const joined = await run("hostname; ps -o comm | grep -c sleep; cat /dev/shm/mark", {
    HostConfig: { PidMode: "container:ns-donor", UTSMode: "container:ns-donor", IpcMode: "container:ns-donor" },
  });
  assert.equal(joined.code, 0, joined.out);
  assert.equal(joined.out, "donor\n1\nshared\n");
  const none = await run("test -e /dev/shm && echo has-shm || echo no-shm", { HostConfig: { IpcMode: "none" } });
  assert.equal(none.out, "no-shm\n");
  // A private donor's /dev/shm is not joinable; a stopped donor's namespaces are gone.
  await daemon("ns-private");
  const { Id } = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { IpcMode: "container:ns-private" } });
  await assert.rejects(c.start(Id), /non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
  await c.stop("ns-private", 0);
  const late = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { PidMode: "container:ns-private" } });
  await assert.rejects(c.start(late.Id), /cannot join PID of a non running container: [0-9a-f]{64}/);
  assert.match(await refusal({ HostConfig: { PidMode: "container:nobody-here" } }), /No such container: nobody-here/);
  assert.match(await refusal({ HostConfig: { PidMode: "shared" } }), /invalid PidMode: shared/);
  assert.match(await refusal({ Hostname: "x", HostConfig: { UTSMode: "host" } }), /conflicting options: hostname and the UTS mode/);
  await c.remove("ns-donor", { force: true });
  await c.remove("ns-private", { force: true });
});

test("NetworkMode container:<id>: the other container's network namespace and /etc files", async () => {
  await daemon("net-donor", { Hostname: "netdonor", HostConfig: { ExtraHosts: ["db:10.9.8.7"] } }, "nc -l -p 7070 -e echo from-donor");
  const r = await run("sleep 0.3; nc 127.0.0.1 7070 </dev/null; cat /etc/hostname; grep db /etc/hosts", {
    HostConfig: { NetworkMode: "container:net-donor" },
  });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^from-donor\nnetdonor\n10\.9\.8\.7\tdb\n$/);
  assert.match(
    await refusal({ HostConfig: { NetworkMode: "container:net-donor", PortBindings: { "80/tcp": [{ HostPort: "8080" }] } } }),
    /conflicting options: port publishing/,
  );
  assert.match(
    await refusal({ Hostname: "h", HostConfig: { NetworkMode: "container:net-donor" } }),
    /conflicting options: hostname and the network mode/,
  );
  await c.remove("net-donor", { force: true });
});

test("Dns, DnsSearch, DnsOptions and ExtraHosts are written to resolv.conf and /etc/hosts", async () => {
  const r = await run("cat /etc/resolv.conf; echo ---; cat /etc/hosts", {
    HostConfig: {
      Dns: ["192.0.2.53", "2001:db8::53"],
      DnsSearch: ["corp.example", "example"],
      DnsOptions: ["ndots:2", "timeout:1"],
      ExtraHosts: ["db:192.0.2.10", "v6host:2001:db8::10", "alias=192.0.2.11"],
    },
  });
  assert.equal(r.code, 0, r.out);
  const [resolv, hosts] = r.out.split("---\n") as [string, string];
  assert.equal(resolv, "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example example\noptions ndots:2 timeout:1\n");
  assert.match(hosts, /^192\.0\.2\.10\tdb$/m);
  assert.match(hosts, /^2001:db8::10\tv6host$/m);
  assert.match(hosts, /^192\.0\.2\.11\talias$/m);
  const hc = c.inspect(r.id).HostConfig;
  assert.deepEqual(
    [hc.Dns, hc.DnsSearch, hc.DnsOptions],
    [
      ["192.0.2.53", "2001:db8::53"],
      ["corp.example", "example"],
      ["ndots:2", "timeout:1"],
    ],
  );
  assert.match(await refusal({ HostConfig: { ExtraHosts: ["db:not-an-ip"] } }), /invalid IP address in add-host: "not-an-ip"/);
});

test("VolumesFrom: another container's volumes and binds, read-only when asked, its anonymous volumes left to it", async () => {
  const bindDir = join(scratch, "vf-bind");
  mkdirSync(bindDir);
  writeFileSync(join(bindDir, "from-host"), "bound\n");
  const owner = await run("echo kept > /data/file", { Volumes: { "/data": {} }, HostConfig: { Binds: [`${bindDir}:/hostdir`] } }).then(
    (r) => r.id,
  );
  const reader = await run("cat /data/file /hostdir/from-host; touch /data/new 2>&1 || echo refused", {
    HostConfig: { VolumesFrom: [`${owner}:ro`] },
  });
  assert.equal(reader.code, 0, reader.out);
  assert.match(reader.out, /^kept\nbound\n.*Read-only file system\nrefused\n$/s);
  const writer = await run("echo more >> /data/file && cat /data/file", { HostConfig: { VolumesFrom: [owner] } });
  assert.equal(writer.out, "kept\nmore\n");
  const mounts = c
    .inspect(writer.id)
    .Mounts.map((m) => [m.Destination, m.RW])
    .sort();
  assert.deepEqual(mounts, [
    ["/data", true],
    ["/hostdir", true],
  ]);
  // Removing the borrower with its volumes leaves the owner's anonymous volume alone.
  await c.remove(writer.id, { force: true, volumes: true });
  const volume = c.inspect(owner).Mounts.find((m) => m.Destination === "/data")!;
  assert.ok(rt.volumes.get(volume.Name!), "the owner's volume survives a borrower's rm -v");
  assert.match(await refusal({ HostConfig: { VolumesFrom: ["nobody-here"] } }), /No such container: nobody-here/);
  assert.match(await refusal({ HostConfig: { VolumesFrom: [`${owner}:rx`] } }), /invalid mode: rx/);
});

test("bind propagation is checked against the host's mount as dockerd checks it", async () => {
  const dir = join(scratch, "prop");
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "berth-prop", dir]);
  try {
    execFileSync("mount", ["--make-private", dir]);
    const { Id } = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: [`${dir}:/p:rshared`] } });
    await assert.rejects(c.start(Id), new RegExp(`path ${dir} is mounted on ${dir} but it is not a shared mount`));
    const slave = await c.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: [`${dir}:/p:rslave`] } });
    await assert.rejects(c.start(slave.Id), /is not a shared or slave mount/);
    execFileSync("mount", ["--make-shared", dir]);
    await c.start(Id);
    assert.equal((await c.wait(Id)).StatusCode, 0);
  } finally {
    execFileSync("umount", ["-l", dir]);
  }
});

test("log drivers: none keeps nothing and logs say so; max-file alone is accepted; unknown drivers get Docker's message", async () => {
  const none = await c.create({ Image: "busybox", Cmd: ["echo", "lost"], HostConfig: { LogConfig: { Type: "none" } } });
  await c.start(none.Id);
  assert.equal((await c.wait(none.Id)).StatusCode, 0);
  assert.throws(() => c.logs(none.Id), /configured logging driver does not support reading/);
  const maxFile = await run("echo kept", { HostConfig: { LogConfig: { Type: "json-file", Config: { "max-file": "3" } } } });
  assert.equal(maxFile.out, "kept\n");
  assert.match(await refusal({ HostConfig: { LogConfig: { Type: "nosuch" } } }), /logger: no log driver named 'nosuch' is registered/);
  assert.match(await refusal({ HostConfig: { LogConfig: { Type: "syslog" } } }), /log driver syslog is not supported by Berth/);
});

test("a command that does not exist exits 127 and one that cannot be executed 126; an exec that cannot start, 126", async () => {
  const missing = await c.create({ Image: "busybox", Cmd: ["/no/such/command"] });
  await assert.rejects(c.start(missing.Id));
  assert.equal(c.inspect(missing.Id).State.ExitCode, 127);
  const notExec = await c.create({ Image: "busybox", Cmd: ["/etc/passwd"] });
  await assert.rejects(c.start(notExec.Id));
  assert.equal(c.inspect(notExec.Id).State.ExitCode, 126);
  const id = await daemon("exec-codes");
  // dockerd's exec: 126 for any start failure, a missing command included (docker-py's test_exec_run_failed).
  assert.equal((await execRun(id, { Cmd: ["/no/such/command"] })).exitCode, 126);
  assert.equal((await execRun(id, { Cmd: ["docker", "ps"] })).exitCode, 126, "not found in PATH");
  assert.equal((await execRun(id, { Cmd: ["sh", "-c", "/no/such/command"] })).exitCode, 127, "a shell's own 127 stays");
  assert.equal((await execRun(id, { Cmd: ["/etc/passwd"] })).exitCode, 126);
  assert.equal((await execRun(id, { Cmd: ["sh", "-c", "exit 255"] })).exitCode, 255, "a command's own 255 stays");
  await c.remove(id, { force: true });
});

test("the settings show in inspect as dockerd shows them", async () => {
  const { Id } = await c.create({
    Image: "busybox",
    Cmd: ["true"],
    HostConfig: { GroupAdd: ["daemon"], Devices: [{ PathOnHost: "/dev/null" }], DeviceCgroupRules: ["c 1:5 r"], PidMode: "host" },
  });
  const hc = c.inspect(Id).HostConfig;
  assert.deepEqual(hc.GroupAdd, ["daemon"]);
  assert.deepEqual(hc.Devices, [{ PathOnHost: "/dev/null" }]);
  assert.deepEqual(hc.DeviceCgroupRules, ["c 1:5 r"]);
  assert.equal(hc.PidMode, "host");
  assert.equal(hc.UTSMode, "");
  assert.equal(hc.VolumeDriver, "");
  assert.equal(hc.Links, null);
});
