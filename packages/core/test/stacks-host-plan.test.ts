// A compose model as a single-host stack: `docker compose up`'s names and labels, Docker create
// bodies, depends_on order, and a configuration hash that changes only when the service's does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { COMPOSE_HASH, COMPOSE_PROJECT, HostPlanError, planHost } from "../src/stacks/host-plan.ts";

const APP = `
services:
  client:
    image: busybox
    command: sh -c 'wget -qO- http://web:8000/'
    depends_on:
      web: {condition: service_healthy}
  web:
    build: {context: ./web, args: {VERSION: "2"}}
    environment: ["MODE=\${MODE:-prod}"]
    ports: ["127.0.0.1:8080:8000", "9000-9001:9000-9001/udp"]
    volumes: ["static:/srv/static:ro", "/etc/ssl/certs:/certs:ro", "/scratch"]
    tmpfs: [/run]
    networks: [front, back]
    restart: on-failure:3
    healthcheck: {test: [CMD, wget, -qO-, http://localhost:8000/health], interval: 2s, retries: 5}
    deploy: {resources: {limits: {cpus: "1.5", memory: 128m}}}
    depends_on: [db]
  db:
    image: postgres:15
    networks:
      back: {aliases: [database]}
networks:
  front: {}
  back: {internal: true}
volumes:
  static: {}
`;

const plan = (text: string, env: Record<string, string> = {}) =>
  planHost("notes", loadCompose([{ name: "compose.yaml", text }], { env }).model);

test("services become Docker create bodies with compose's names and labels, dependencies first", () => {
  const p = plan(APP);
  assert.deepEqual(
    p.services.map((s) => s.service),
    ["db", "web", "client"],
  );
  const web = p.services.find((s) => s.service === "web")!;
  assert.deepEqual(web.build, { tag: "notes-web", context: "web", args: { VERSION: "2" }, labels: {}, noCache: false, pull: false });
  assert.deepEqual(web.dependsOn, [{ service: "db", condition: "service_started", required: true }]);
  assert.equal(web.body.Image, "notes-web");
  assert.deepEqual(web.body.Env, ["MODE=prod"]);
  assert.equal((web.body.Labels as Record<string, string>)[COMPOSE_PROJECT], "notes");
  assert.equal((web.body.Labels as Record<string, string>)[COMPOSE_HASH], web.configHash);
  assert.deepEqual(web.body.Volumes, { "/scratch": {} });
  assert.deepEqual(web.body.Healthcheck, { Test: ["CMD", "wget", "-qO-", "http://localhost:8000/health"], Interval: 2e9, Retries: 5 });
  const host = web.body.HostConfig as Record<string, unknown>;
  assert.equal(host.NetworkMode, "notes_front");
  assert.deepEqual(host.PortBindings, {
    "8000/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }],
    "9000/udp": [{ HostIp: "", HostPort: "9000" }],
    "9001/udp": [{ HostIp: "", HostPort: "9001" }],
  });
  assert.deepEqual(host.Binds, ["notes_static:/srv/static:ro", "/etc/ssl/certs:/certs:ro"]);
  assert.deepEqual(host.Tmpfs, { "/run": "" });
  assert.deepEqual(host.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
  assert.equal(host.NanoCpus, 1.5e9);
  assert.equal(host.Memory, 128 * 1024 ** 2);
  assert.deepEqual(web.body.NetworkingConfig, { EndpointsConfig: { notes_front: { Aliases: ["web"] } } });
  assert.deepEqual(web.moreNetworks, [{ network: "notes_back", aliases: ["web"] }]);
  const client = p.services.find((s) => s.service === "client")!;
  assert.deepEqual(client.body.Cmd, ["sh", "-c", "wget -qO- http://web:8000/"]);
  assert.deepEqual(client.dependsOn, [{ service: "web", condition: "service_healthy", required: true }]);
  assert.deepEqual(client.body.NetworkingConfig, { EndpointsConfig: { notes_default: { Aliases: ["client"] } } });
  assert.deepEqual(
    p.networks.map((n) => [n.name, n.internal]),
    [
      ["notes_default", false],
      ["notes_front", false],
      ["notes_back", true],
    ],
  );
});

test("the configuration hash changes with the service's configuration, and only its own", () => {
  const a = plan(APP);
  const b = plan(APP, { MODE: "dev" });
  const hash = (p: ReturnType<typeof plan>, s: string) => p.services.find((x) => x.service === s)!.configHash;
  assert.notEqual(hash(a, "web"), hash(b, "web"));
  assert.equal(hash(a, "db"), hash(b, "db"));
  assert.equal(hash(a, "client"), hash(b, "client"));
  assert.equal(hash(a, "web"), hash(plan(APP), "web"));
});

test("cycles, relative host paths and unterminated quotes are refused by name", () => {
  const text = `
services:
  a: {image: x, depends_on: [b], volumes: ["./data:/data"]}
  b: {image: x, depends_on: [a], command: 'echo "open'}
`;
  assert.throws(
    () => plan(text),
    (e: unknown) => {
      assert.ok(e instanceof HostPlanError);
      assert.deepEqual(e.problems, [
        "services.a.volumes: a host path on a single-host stack is absolute (got ./data): the stack's files are not on the host",
        'services.b.command: unterminated " quote in "echo \\"open"',
        "depends_on has a cycle: a → b → a",
      ]);
      return true;
    },
  );
});
