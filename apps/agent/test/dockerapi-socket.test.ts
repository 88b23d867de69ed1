// The Docker API socket is root's alone from its first moment: it appears at its path already
// restricted (0660), whatever the process's umask, never world-connectable for an instant.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startDockerApi } from "../src/dockerapi/server.ts";
import { createRuntime } from "../src/runtime.ts";
import { waitFor } from "@berth/test-support/wait";

test("the socket is created restricted, under any umask, and renamed into place", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-sock-"));
  const socketPath = join(dir, "run", "docker.sock");
  const rt = createRuntime(join(dir, "state"), { cgroupParent: `/berth-test-${process.pid}` });
  const old = process.umask(0);
  const events: Array<[name: string, event: string]> = [];
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    // The directory exists before the socket, so every change to the socket's name is seen.
    mkdirSync(join(dir, "run"));
    watcher = watch(join(dir, "run"), (event, name) => events.push([String(name), event]));
    const api = await startDockerApi({ runtime: rt, socketPath, stateDir: join(dir, "state"), logger: pino({ level: "silent" }) });
    try {
      const st = statSync(socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
      assert.deepEqual(readdirSync(join(dir, "run")), ["docker.sock"], "no staging directory is left");
      // The directory's events come in order: once a file made after the socket shows, every
      // event on the socket's name has come too.
      writeFileSync(join(dir, "run", "after"), "");
      await waitFor("the event of a file made after the socket", () => events.some(([name]) => name === "after"), 5_000, 10);
      const onSocket = events.filter(([name]) => name === "docker.sock").map(([, event]) => event);
      // A socket created at its path and chmod-ed after would show a "change" (its mode changing there).
      assert.deepEqual([...new Set(onSocket)], ["rename"], `events on the socket's name: ${onSocket.join(",")}`);
    } finally {
      await api.close();
    }
  } finally {
    process.umask(old);
    watcher?.close();
    await rt.containers.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
