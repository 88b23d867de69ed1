// docker-compose.yml must be valid compose: checked by docker-compose's own schema validation
// (Debian's docker-compose, which needs no daemon for `config`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "../../scripts/paths.ts";
import { loadEnv } from "../../apps/web/src/server/env.ts";

const run = promisify(execFile);
const file = join(repoRoot, "docker-compose.yml");

test("docker-compose.yml passes `docker-compose config` and has postgres, web and a privileged agent", async () => {
  const { stdout } = await run("docker-compose", ["-f", file, "config"], {
    cwd: repoRoot,
    env: { ...process.env, BERTH_AUTH_SECRET: "x".repeat(64), BERTH_JOIN_TOKEN: `BERTH-1-insecure-${"a".repeat(48)}` },
  });
  const config = parse(stdout) as {
    services: Record<string, { privileged?: boolean; volumes?: unknown[]; environment?: Record<string, string> }>;
  };
  assert.deepEqual(Object.keys(config.services).sort(), ["agent", "lb", "postgres", "web"]);
  // The web service scales behind the load balancer: it publishes no port of its own.
  const services = config.services as Record<string, { ports?: unknown[]; volumes?: unknown[] }>;
  assert.equal(services.web!.ports, undefined);
  assert.match(JSON.stringify(services.lb!.ports), /3000/);
  assert.match(JSON.stringify(services.lb!.volumes), /deploy\/haproxy\.cfg/);
  assert.equal(config.services.agent!.privileged, true);
  assert.ok(JSON.stringify(config.services.agent!.volumes).includes("/var/lib/berth"), "the agent keeps its state in a volume");
  assert.match(config.services.web!.environment!.DATABASE_URL!, /@postgres:5432\/berth$/);
  // The control plane serves all interfaces in its container: HTTPS with its own certificate, kept in a volume.
  const web = loadEnv({ NODE_ENV: "production", ...config.services.web!.environment });
  assert.equal(web.TLS_SELF_SIGNED, true);
  assert.match(web.PUBLIC_URL, /^https:\/\//);
  assert.ok(JSON.stringify(config.services.web!.volumes).includes("/var/lib/berth-web"), "the certificate outlives the container");
  assert.equal(web.TLS_CERT_FILE, "/var/lib/berth-web/tls/cert.pem");
});

test("the load balancer's configuration is valid HAProxy (Debian's haproxy -c)", async () => {
  const { stdout } = await run("haproxy", ["-c", "-f", join(repoRoot, "deploy/haproxy.cfg")]);
  assert.match(stdout, /Configuration file is valid/);
});

test("without BERTH_AUTH_SECRET, compose refuses with the reason", async () => {
  const env = { ...process.env };
  delete env.BERTH_AUTH_SECRET;
  await assert.rejects(run("docker-compose", ["-f", file, "config"], { cwd: repoRoot, env }), (e: { stderr?: string }) =>
    /set BERTH_AUTH_SECRET/.test(e.stderr ?? ""),
  );
});
