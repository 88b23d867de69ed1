// `docker cp` into a running container that fights back (CVE-2018-15664): processes in the
// container, its main one and an exec'd one, keep swapping the destination directory for a
// symlink to `/`. Without the freeze, an upload checked while the path is a directory is written
// after it became the link, i.e. onto the host's `/`. Served over the Docker API socket.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startDockerApi, type DockerApi } from "../src/dockerapi/server.ts";
import type { AgentEvent } from "../src/containers/events.ts";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import { waitFor } from "@berth/test-support/wait";
import { buildTar } from "./snapshots-tar.ts";

let rt: AgentRuntime;
let stateDir: string;
let api: DockerApi;
let socketPath: string;

const unique = `berth-cp-race-${process.pid}-${Date.now().toString(36)}`;
/** Where an escaped write would land: the link points at `/`, resolved from the agent's root. */
const hostSpots = () => [join("/", unique), join(tmpdir(), unique), join("/tmp", unique), join(stateDir, unique)];

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  socketPath = join(stateDir, "docker.sock");
  api = await startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) });
});

after(async () => {
  // A failing run must not leave its file on the host.
  for (const p of hostSpots()) rmSync(p, { force: true });
  await api?.close();
  await disposeRuntime(rt, stateDir);
});

function call(
  method: string,
  path: string,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body ? { "content-type": "application/x-tar" } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const status = (id: string) => (rt.containers.inspect(id).State as { Status: string }).Status;

/**
 * Swaps `dir` between a real directory and a symlink to `/`, each rename atomic, as fast as the
 * shell can: the path is a directory about half the time, so a check sees one and a write
 * moments later may meet the link.
 */
const swapLoop = (dir: string) =>
  `mkdir -p ${dir} && ln -s / ${dir}.link && ` +
  `while true; do mv ${dir} ${dir}.dir; mv ${dir}.link ${dir}; mv ${dir} ${dir}.link; mv ${dir}.dir ${dir}; done`;

/** The `freezer` (v1) or unified (v2) cgroup line of a host process. */
function freezerCgroup(pid: number): string | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  return lines.find((l) => /^\d+:([^:]*,)?freezer(,[^:]*)?:/.test(l)) ?? lines.find((l) => l.startsWith("0::"));
}

/** Host pids of every process in the pid namespace of `initPid`. */
function pidsInNamespaceOf(initPid: number): number[] {
  const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/pid`) === ns) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

test("uploads into a running container that swaps the destination for a symlink to / never land on the host", async () => {
  const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["sh", "-c", swapLoop("/w/d")] });
  await rt.containers.start(Id);
  // The second swapper is an exec'd process: it must be frozen along with the container.
  const { Id: execId } = rt.execs.create(Id, { Cmd: ["sh", "-c", swapLoop("/w/e")] });
  const swapper = await rt.execs.start(execId);
  const initPid = (rt.containers.inspect(Id).State as { Pid: number }).Pid;
  // Both loops run once each has made its link (`ln -s` comes before the loop).
  await waitFor("both swap loops running", () => {
    const w = existsSync(`/proc/${initPid}/root/w`) ? readdirSync(`/proc/${initPid}/root/w`) : [];
    return w.some((n) => n.startsWith("d.")) && w.some((n) => n.startsWith("e.")) && pidsInNamespaceOf(initPid).length >= 2;
  });
  const inside = pidsInNamespaceOf(initPid);
  assert.ok(inside.length >= 2, `the main loop and the exec'd loop run (${inside.length} processes)`);
  const cg = freezerCgroup(initPid);
  assert.ok(cg?.includes(Id), `the container's init is in its own cgroup: ${cg}`);
  for (const pid of inside) {
    try {
      assert.equal(freezerCgroup(pid), cg, `process ${pid} of the container (exec'd ones included) is in the container's freezer cgroup`);
    } catch (e) {
      if (existsSync(`/proc/${pid}`)) throw e; // a short-lived mv may exit between the two reads
    }
  }

  const events: AgentEvent[] = [];
  const unsubscribe = rt.events.subscribe((e) => events.push(e));
  const tar = buildTar([{ path: unique, data: "escaped?\n", mode: 0o644 }]);
  const codes = new Map<number, number>();
  for (let i = 0; i < 120; i++) {
    for (const dir of ["/w/d", "/w/e"]) {
      // A failed upload may be answered with 4xx or with a dropped connection (0): both are fine here.
      const r = await call("PUT", `/v1.47/containers/${Id}/archive?path=${encodeURIComponent(dir)}`, tar).catch(() => ({ status: 0 }));
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      for (const p of hostSpots()) assert.ok(!existsSync(p), `upload ${i} into ${dir} escaped the container: ${p} exists on the host`);
    }
  }
  unsubscribe();
  assert.ok((codes.get(200) ?? 0) >= 20, `enough uploads went through to exercise the race: ${JSON.stringify([...codes])}`);
  for (const code of codes.keys()) assert.ok([0, 200, 400, 404].includes(code), `only client errors besides success: ${code}`);

  // Every upload froze the container and thawed it again; it is running and still swapping.
  assert.equal(status(Id), "running");
  const pauses = events.filter((e) => e.Actor.ID === Id && e.Action === "pause").length;
  assert.ok(pauses >= 200, `each upload paused the container (${pauses} pauses)`);
  assert.equal(events.filter((e) => e.Actor.ID === Id && e.Action === "unpause").length, pauses);
  const before = readdirSync(`/proc/${initPid}/root/w`).sort().join();
  await waitFor(
    "the swap loops running again after the uploads",
    () => readdirSync(`/proc/${initPid}/root/w`).sort().join() !== before,
    5_000,
    10,
  );

  // What went through is inside the container, where the link pointed from its own point of view.
  const landed = [
    `/proc/${initPid}/root/${unique}`,
    `/proc/${initPid}/root/w/d/${unique}`,
    `/proc/${initPid}/root/w/d.dir/${unique}`,
    `/proc/${initPid}/root/w/e/${unique}`,
    `/proc/${initPid}/root/w/e.dir/${unique}`,
  ];
  assert.ok(
    landed.some((p) => existsSync(p)),
    "the uploads landed inside the container",
  );
  swapper.kill();
  await rt.containers.remove(Id, { force: true });
});

test(
  "a container paused by its user stays paused through cp; " + "reads of a running one thaw it again; a stopped one still works",
  async () => {
    const { Id } = await rt.containers.create({
      Image: "busybox",
      Cmd: ["sh", "-c", "mkdir -p /data && echo hello > /data/greeting && sleep 1000"],
    });
    await rt.containers.start(Id);
    const initPid = (rt.containers.inspect(Id).State as { Pid: number }).Pid;
    await waitFor(
      "/data/greeting written",
      () => existsSync(`/proc/${initPid}/root/data/greeting`) && readFileSync(`/proc/${initPid}/root/data/greeting`, "utf8") === "hello\n",
    );
    const tar = buildTar([{ path: "note.txt", data: "from the host\n", mode: 0o644 }]);

    // Paused by the user: the upload works on the frozen container and leaves it paused.
    await rt.containers.pause(Id);
    const events: AgentEvent[] = [];
    const unsubscribe = rt.events.subscribe((e) => events.push(e));
    const count = (action: string) => events.filter((e) => e.Actor.ID === Id && e.Action === action).length;
    assert.equal((await call("PUT", `/v1.47/containers/${Id}/archive?path=/data`, tar)).status, 200);
    assert.equal(status(Id), "paused");
    const head = await call("HEAD", `/v1.47/containers/${Id}/archive?path=/data/note.txt`);
    assert.equal(head.status, 200);
    assert.equal(status(Id), "paused");
    assert.equal(count("pause") + count("unpause"), 0, "cp neither paused nor thawed it");
    await rt.containers.unpause(Id);
    events.length = 0;

    // Running: concurrent GET, HEAD and PUT answer, each under a freeze, and leave it running.
    const [get, head2, put] = await Promise.all([
      call("GET", `/v1.47/containers/${Id}/archive?path=/data/greeting`),
      call("HEAD", `/v1.47/containers/${Id}/archive?path=/data`),
      call("PUT", `/v1.47/containers/${Id}/archive?path=/data`, buildTar([{ path: "second.txt", data: "2\n", mode: 0o644 }])),
    ]);
    assert.equal(get.status, 200);
    assert.ok(get.body.includes(Buffer.from("hello\n")), "the archive holds the file's content");
    assert.equal(head2.status, 200);
    assert.equal(put.status, 200);
    assert.equal(status(Id), "running");
    assert.ok(count("pause") >= 1 && count("pause") <= 3, `frozen for the requests (${count("pause")} pauses)`);
    assert.equal(count("unpause"), count("pause"));
    unsubscribe();
    const pid = (rt.containers.inspect(Id).State as { Pid: number }).Pid;
    assert.equal(readFileSync(`/proc/${pid}/root/data/note.txt`, "utf8"), "from the host\n");
    assert.equal(readFileSync(`/proc/${pid}/root/data/second.txt`, "utf8"), "2\n");

    // Stopped: nothing runs, nothing to freeze; cp goes through a mount of the container's filesystem.
    await rt.containers.stop(Id, 0);
    assert.equal(
      (await call("PUT", `/v1.47/containers/${Id}/archive?path=/data`, buildTar([{ path: "third.txt", data: "3\n", mode: 0o644 }]))).status,
      200,
    );
    const third = await call("GET", `/v1.47/containers/${Id}/archive?path=/data/third.txt`);
    assert.equal(third.status, 200);
    assert.ok(third.body.includes(Buffer.from("3\n")));
    assert.equal(status(Id), "exited");
    // A missing path is still a 404, and the container is not left frozen by a failed request.
    await rt.containers.start(Id);
    assert.equal((await call("PUT", `/v1.47/containers/${Id}/archive?path=/nope`, tar)).status, 404);
    assert.equal(status(Id), "running");
    await rt.containers.remove(Id, { force: true });
  },
);
