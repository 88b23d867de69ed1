import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, ENV_ONLY, FLAGS, loadConfig, usageText } from "../src/config.ts";

test("the usage text lists every flag, with its environment variable, and every environment setting", () => {
  const usage = usageText();
  for (const [name, f] of Object.entries(FLAGS)) {
    assert.match(usage, new RegExp(`--${name}\\b`), `--${name} is in the usage`);
    if ("env" in f) assert.ok(usage.includes(`[${f.env}]`), `${f.env} is named beside --${name}`);
  }
  for (const k of Object.keys(ENV_ONLY)) assert.ok(usage.includes(k), `${k} is in the usage`);
  assert.match(usage, /--metrics-listen HOST:PORT/);
});

test("flags win over their environment variables; lists come from comma-separated values", () => {
  const env = {
    BERTH_STATE_DIR: "/env/state",
    BERTH_REGISTRY_MIRRORS: "http://m1:5000,,http://m2:5000",
    BERTH_METRICS_LISTEN: "127.0.0.1:9100",
  };
  const fromEnv = loadConfig(["run"], env);
  assert.equal(fromEnv.stateDir, "/env/state");
  assert.deepEqual(fromEnv.mirrors, ["http://m1:5000", "http://m2:5000"]);
  assert.deepEqual(fromEnv.metrics, { host: "127.0.0.1", port: 9100 });
  const fromFlags = loadConfig(
    ["run", "--state-dir", "/flag/state", "--registry-mirror", "http://m3:5000", "--metrics-listen", "[::1]:9200"],
    env,
  );
  assert.equal(fromFlags.stateDir, "/flag/state");
  assert.deepEqual(fromFlags.mirrors, ["http://m3:5000"]);
  assert.deepEqual(fromFlags.metrics, { host: "::1", port: 9200 });
  const plain = loadConfig(["run"], {});
  assert.equal(plain.stateDir, "/var/lib/berth");
  assert.equal(plain.dockerSocket, "/run/berth/docker.sock");
  assert.equal(plain.networking, true);
  assert.equal(plain.mountHelper, true);
  assert.equal(loadConfig(["run", "--docker-socket", ""], {}).dockerSocket, "", "an empty socket path turns the API off");
  assert.equal(loadConfig(["run"], { BERTH_DOCKER_SOCKET: "" }).dockerSocket, "", "so does an empty BERTH_DOCKER_SOCKET");
});

test("environment settings without a flag are checked too", () => {
  const c = loadConfig(["run"], { BERTH_NETWORKING: "0", BERTH_CGROUP_PARENT: "/lab/a", BERTH_MOUNT_HELPER: "0", LOG_LEVEL: "warn" });
  assert.equal(c.networking, false);
  assert.equal(c.cgroupParent, "/lab/a");
  assert.equal(c.mountHelper, false);
  assert.equal(c.logLevel, "warn");
  assert.throws(() => loadConfig(["run"], { BERTH_NETWORKING: "off" }), /BERTH_NETWORKING is 0 or 1/);
  assert.throws(() => loadConfig(["run"], { BERTH_CGROUP_PARENT: "relative" }), /absolute cgroup path/);
  assert.throws(() => loadConfig(["run"], { LOG_LEVEL: "loud" }), ConfigError);
});

test("bad flags are refused with the flag's own message", () => {
  assert.throws(() => loadConfig(["join", "--url", "ftp://x"], {}), /--url must be an http\(s\) URL/);
  assert.throws(() => loadConfig(["join", "--url", "https://a:8443,ftp://b"], {}), /--url must be an http\(s\) URL/);
  assert.throws(() => loadConfig(["join", "--url", ","], {}), /--url needs an address/);
  // A control plane's replicas: every address, in order.
  assert.deepEqual(loadConfig(["join", "--url", "https://a:8443, https://b:8443"], {}).join.urls, ["https://a:8443", "https://b:8443"]);
  assert.throws(() => loadConfig(["run", "--metrics-listen", "9100"], {}), /--metrics-listen takes HOST:PORT/);
  assert.throws(() => loadConfig(["run", "--docker-socket", "rel.sock"], {}), /absolute path/);
  assert.throws(() => loadConfig(["run", "--docker-tls-listen", "0.0.0.0:2376"], {}), /needs --docker-tls-cert/);
  assert.throws(() => loadConfig(["run", "--frobnicate"], {}), /Unknown option '--frobnicate'/);
  assert.throws(
    () => loadConfig(["frobnicate"], {}),
    (e: unknown) => e instanceof ConfigError && e.showUsage,
  );
  const tls = loadConfig(
    ["run", "--docker-tls-listen", "0.0.0.0:2376", "--docker-tls-cert", "c", "--docker-tls-key", "k", "--docker-tls-ca", "a"],
    {},
  );
  assert.deepEqual(tls.dockerTcp, { host: "0.0.0.0", port: 2376, cert: "c", key: "k", ca: "a" });
});
