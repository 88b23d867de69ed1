// docker-py as a client of a standalone agent: Debian's python3-docker (5.0.3, API 1.41) driven
// by docker_py_client.py, one scenario per test. Each scenario is a user's script (exec, networks,
// every container option of issue 22's point 3, health checks with null fields, archives on
// volume paths, events, stats, logs with follow) checked against what dockerd does.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startStandaloneAgent, type ClientResult, type StandaloneAgent } from "./standalone-agent.ts";

/** Debian's interpreter, whose dist-packages hold python3-docker; a pyenv or venv python3 may carry another docker-py. */
const PYTHON = "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "docker_py_client.py");

/** Every scenario the script has; the test checks the script lists exactly these, so none is skipped unnoticed. */
const SCENARIOS = [
  "exec_plain",
  "exec_demux",
  "exec_tty",
  "exec_stream",
  "network_check_duplicate",
  "network_connect_aliases_links",
  "network_disconnect_force",
  "network_aux_addresses",
  "opt_volumes_from",
  "opt_links",
  "opt_group_add",
  "opt_mac_address",
  "opt_memory_swappiness",
  "opt_device_cgroup_rules",
  "opt_devices",
  "opt_runtime",
  "opt_volume_driver",
  "opt_pid_mode",
  "opt_ipc_mode",
  "opt_uts_mode",
  "opt_network_mode_container",
  "opt_dns",
  "opt_extra_hosts",
  "opt_cgroupns_isolation",
  "health_null_fields",
  "health_unhealthy",
  "health_none",
  "archive_volume_created",
  "archive_volume_running",
  "archive_volume_stopped",
  "events",
  "stats",
  "logs_follow",
];

interface ScenarioResult {
  name: string;
  ok: boolean;
  error: string | null;
  seconds: number;
}

function parseResults(out: string): ScenarioResult[] {
  return out
    .split("\n")
    .filter((l) => l.startsWith("@@result "))
    .map((l) => JSON.parse(l.slice("@@result ".length)) as ScenarioResult);
}

let agent: StandaloneAgent;
const python = (args: string[], timeoutMs = 120_000): Promise<ClientResult> =>
  agent.run(PYTHON, [SCRIPT, ...args], { timeoutMs, env: { PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" } });

before(async () => {
  agent = await startStandaloneAgent("dpy");
});

after(async () => {
  await agent?.stop();
});

describe("docker-py 5.0.3 against a standalone agent", () => {
  test("the script's scenarios are the ones tested here", async () => {
    const r = await python(["--list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), SCENARIOS);
    const v = await agent.run(PYTHON, ["-c", "import docker; print(docker.__version__)"]);
    assert.equal(v.stdout.trim(), "5.0.3", `Debian's python3-docker (${v.stderr})`);
  });

  for (const scenario of SCENARIOS) {
    test(scenario.replaceAll("_", " "), async () => {
      const r = await python([scenario]);
      const [res] = parseResults(r.stdout);
      const context = `${r.stderr.slice(-3000)}\nagent log:\n${agent.log().slice(-3000)}`;
      assert.ok(res, `${scenario} printed no result (exit ${r.code}):\n${r.stdout.slice(-2000)}${context}`);
      assert.equal(res.name, scenario);
      assert.ok(res.ok, `${scenario}: ${res.error}\n${context}`);
      assert.equal(r.code, 0, context);
    });
  }
});
