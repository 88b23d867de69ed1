// Containers outlive the agent: after a SIGKILL of the agent process a new agent re-adopts every
// running container and records exits it missed; after a "host restart" (every conmon killed)
// `always` containers come back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRuntime } from "../src/runtime.ts";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { waitFor } from "@berth/test-support/wait";

/** A live process (a zombie waiting for its reaper is dead). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
};

test(
  "20 running containers survive an agent SIGKILL and are re-adopted; a missed exit is recorded; " +
    "a host restart brings back `always` containers",
  async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "berth-adopt-"));
    const cgroupParent = `/berth-test-adopt-${process.pid}`;
    const specs = [
      ...Array.from({ length: 20 }, (_, i) => ({ name: `keep${i}`, cmd: ["sleep", "100000"] })),
      { name: "exits-while-down", cmd: ["sh", "-c", "sleep 3; exit 42"] },
      { name: "always", cmd: ["sleep", "100000"], restart: "always" },
    ];
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "support/agent-child.ts"), stateDir, cgroupParent, JSON.stringify(specs)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let rt: ReturnType<typeof createRuntime> | undefined;
    try {
      const ids = await new Promise<Record<string, string>>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!) as Record<string, string>);
        });
        child.on("exit", (code) => reject(new Error(`agent child exited early (${code})`)));
      });
      const record = (id: string) =>
        JSON.parse(readFileSync(join(stateDir, "containers", id, "container.json"), "utf8")) as {
          state: { Pid: number };
          conmonPid: number;
        };
      const before = Object.fromEntries(Object.entries(ids).map(([n, id]) => [n, record(id)]));

      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      // With the agent gone, every container and its conmon keep running.
      for (const n of Object.keys(ids)) {
        if (n === "exits-while-down") continue;
        assert.ok(alive(before[n]!.conmonPid), `${n}: conmon survives the agent`);
        assert.ok(alive(before[n]!.state.Pid), `${n}: the container survives the agent`);
      }
      // exits-while-down exits now, with no agent to see it: its conmon records the exit code and ends.
      const missedExit = before["exits-while-down"]!;
      await waitFor(
        "exits-while-down and its conmon to end",
        () => !alive(missedExit.state.Pid) && !alive(missedExit.conmonPid),
        15_000,
        50,
      );

      rt = createRuntime(stateDir, { cgroupParent });
      await rt.containers.init();
      for (let i = 0; i < 20; i++) {
        const s = rt.containers.inspect(`keep${i}`).State as { Running: boolean; Pid: number };
        assert.equal(s.Running, true, `keep${i} re-adopted as running`);
        assert.equal(s.Pid, before[`keep${i}`]!.state.Pid, "the same process, not a restart");
      }
      const missed = rt.containers.inspect("exits-while-down").State as { Status: string; ExitCode: number };
      assert.equal(missed.Status, "exited");
      assert.equal(missed.ExitCode, 42, "the exit that happened while the agent was down is recorded");
      // The adopted containers are fully controllable.
      await rt.containers.stop("keep0", 1);
      assert.equal((rt.containers.inspect("keep0").State as { Running: boolean }).Running, false);
      const nextExit = rt.containers.wait("keep1", "next-exit");
      await rt.containers.kill("keep1", "SIGKILL");
      assert.equal((await nextExit).StatusCode, 137, "exits of adopted containers are still noticed");
      await rt.containers.close();

      // "Host restart": every conmon dies; the next agent records the loss and restarts `always`.
      const nowRunning = rt.containers.store.all().filter((r) => r.state.Status === "running");
      for (const r of nowRunning) process.kill(r.conmonPid, "SIGKILL");
      const alwaysPid = before.always!.state.Pid;
      rt = createRuntime(stateDir, { cgroupParent });
      const seen: string[] = [];
      rt.events.subscribe(
        (e) =>
          e.Actor.Attributes.name === "always" &&
          seen.push(`${Date.now() % 100000} ${e.Action} ${JSON.stringify(e.Actor.Attributes.exitCode ?? "")}`),
      );
      await rt.containers.init();
      const restarted = rt;
      // On a timeout the assertions below say what happened (with the container's events).
      await waitFor(
        "the `always` container running again",
        () => (restarted.containers.inspect("always").State as { Status: string }).Status === "running",
        10_000,
        50,
      ).catch(() => undefined);
      const a = rt.containers.inspect("always");
      assert.equal((a.State as { Status: string }).Status, "running", "the `always` container is back");
      assert.notEqual((a.State as { Pid: number }).Pid, alwaysPid);
      assert.equal(
        a.RestartCount,
        1,
        `events of the always container: ${seen.join("; ")}; error ${JSON.stringify((a.State as { Error: string }).Error)}`,
      );
      const k = rt.containers.inspect("keep5").State as { Status: string; ExitCode: number; Error: string };
      assert.equal(k.Status, "exited");
      assert.equal(k.ExitCode, 255);
      assert.match(k.Error, /conmon/);
      assert.equal(alive(before.keep5!.state.Pid), false, "leftover container processes were stopped");
    } finally {
      child.kill("SIGKILL");
      if (rt) {
        for (const r of rt.containers.store.all()) await rt.containers.remove(r.id, { force: true }).catch(() => undefined);
        await rt.containers.close();
      }
      rmSync(stateDir, { recursive: true, force: true });
      removeCgroupParent(cgroupParent);
    }
  },
);
