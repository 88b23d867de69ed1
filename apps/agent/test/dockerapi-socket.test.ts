// The Docker API socket is root's alone from its first moment: it appears at its path already
// restricted (0660), whatever the process's umask, never world-connectable for an instant.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startDockerApi } from "../src/dockerapi/server.ts";
import { createRuntime } from "../src/runtime.ts";

test("the socket is created restricted, under any umask, and renamed into place", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-sock-"));
  const socketPath = join(dir, "run", "docker.sock");
  const rt = createRuntime(join(dir, "state"), { cgroupParent: `/berth-test-${process.pid}` });
  const old = process.umask(0);
  const events: string[] = [];
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    // The directory exists before the socket, so every change to the socket's name is seen.
    mkdirSync(join(dir, "run"));
    watcher = watch(join(dir, "run"), (event, name) => name === "docker.sock" && events.push(event));
    const api = await startDockerApi({ runtime: rt, socketPath, stateDir: join(dir, "state"), logger: pino({ level: "silent" }) });
    try {
      const st = statSync(socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
      await new Promise((r) => setTimeout(r, 100));
      // A socket created at its path and chmod-ed after would show a "change" (its mode changing there).
      assert.deepEqual([...new Set(events)], ["rename"], `events on the socket's name: ${events.join(",")}`);
      assert.deepEqual(readdirSync(join(dir, "run")), ["docker.sock"], "no staging directory is left");
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
