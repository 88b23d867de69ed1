// A compose model as a fleet stack: `docker stack deploy`'s names and semantics, specs the
// service store accepts as they are, and what a fleet cannot honour refused by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { FleetPlanError, planFleet, STACK_LABEL } from "../src/stacks/fleet-plan.ts";
import { bytes, ms, words } from "../src/stacks/compose/values.ts";
import { ServiceSpecSchema } from "../src/services/spec.ts";

const NOTES = `
services:
  web:
    image: registry.local/notes-web:1
    command: gunicorn -b "0.0.0.0:8000" 'app:create_app()'
    environment:
      DATABASE_URL: postgres://notes@db/notes
    ports: ["8080:8000", "9000-9001:9000-9001/udp"]
    networks: [front, back]
    secrets: [db_password]
    healthcheck:
      test: wget -q -O- http://localhost:8000/health
      interval: 5s
      start_period: 1m30s
    deploy:
      replicas: 3
      labels: [tier=web]
      placement:
        constraints: [node.labels.zone==a]
        preferences: [{spread: node.labels.rack}]
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {memory: 64m}
      update_config: {parallelism: 2, delay: 10s, order: start-first}
      restart_policy: {condition: on-failure, max_attempts: 3}
    depends_on: [db]
  db:
    image: postgres:15
    volumes: ["pgdata:/var/lib/postgresql/data", "/srv/backup:/backup:ro"]
    tmpfs: /run/postgresql
    networks:
      back:
        aliases: [database]
    secrets:
      - source: db_password
        target: /run/secrets/pw
        mode: 0o400
    deploy: {mode: global}
networks:
  front: {}
  back: {driver: overlay, driver_opts: {encrypted: ""}}
volumes:
  pgdata: {}
secrets:
  db_password: {file: ./db_password.txt}
`;

test("a compose application becomes services, overlay networks and files named for the stack", () => {
  const plan = planFleet("notes", loadCompose([{ name: "compose.yaml", text: NOTES }]).model);
  assert.deepEqual(plan.ignored, ["services.web.depends_on"]);
  const [web, db] = plan.services;
  for (const s of plan.services) ServiceSpecSchema.parse(s); // the store takes them as they are

  assert.equal(web!.name, "notes_web");
  assert.deepEqual(web!.labels, { tier: "web", [STACK_LABEL]: "notes" });
  assert.deepEqual(web!.task.args, ["gunicorn", "-b", "0.0.0.0:8000", "app:create_app()"]);
  assert.equal(web!.task.command, undefined);
  assert.deepEqual(web!.task.env, ["DATABASE_URL=postgres://notes@db/notes"]);
  assert.deepEqual(web!.mode, { kind: "replicated", replicas: 3 });
  assert.deepEqual(web!.endpoint!.ports, [
    { target: 8000, published: 8080, protocol: "tcp", publishMode: "ingress" },
    { target: 9000, published: 9000, protocol: "udp", publishMode: "ingress" },
    { target: 9001, published: 9001, protocol: "udp", publishMode: "ingress" },
  ]);
  assert.deepEqual(web!.task.networks, [
    { target: "notes_front", aliases: ["web"] },
    { target: "notes_back", aliases: ["web"] },
  ]);
  assert.deepEqual(web!.task.secrets, [{ source: "notes_db_password", target: "db_password" }]);
  assert.deepEqual(web!.task.healthcheck, {
    Test: ["CMD-SHELL", "wget -q -O- http://localhost:8000/health"],
    Interval: 5e9,
    StartPeriod: 90e9,
  });
  assert.deepEqual(web!.task.resources, {
    limits: { nanoCpus: 5e8, memoryBytes: 256 * 1024 ** 2 },
    reservations: { memoryBytes: 64 * 1024 ** 2 },
  });
  assert.deepEqual(web!.task.placement, {
    constraints: ["node.labels.zone==a"],
    preferences: [{ spread: "node.labels.rack" }],
    maxReplicasPerHost: 0,
  });
  assert.deepEqual(web!.task.restartPolicy, { condition: "on-failure", maxAttempts: 3 });
  assert.deepEqual(web!.updateConfig, { parallelism: 2, delayMs: 10_000, order: "start-first" });

  assert.deepEqual(db!.mode, { kind: "global" });
  assert.deepEqual(db!.task.mounts, [
    { Type: "volume", Target: "/var/lib/postgresql/data", Source: "notes_pgdata" },
    { Type: "bind", Target: "/backup", Source: "/srv/backup", ReadOnly: true },
    { Type: "tmpfs", Target: "/run/postgresql" },
  ]);
  assert.deepEqual(db!.task.networks, [{ target: "notes_back", aliases: ["db", "database"] }]);
  assert.deepEqual(db!.task.secrets, [{ source: "notes_db_password", target: "/run/secrets/pw", mode: 0o400 }]);

  assert.deepEqual(
    plan.networks.map((n) => [n.name, n.encrypted, n.external]),
    [
      ["notes_front", false, false],
      ["notes_back", true, false],
    ],
  );
  assert.deepEqual(plan.secrets, [
    { name: "notes_db_password", file: "./db_password.txt", external: false, labels: { [STACK_LABEL]: "notes" } },
  ]);
});

test("services without networks share the stack's default network; external names are used as given", () => {
  const text = `
services:
  a: {image: busybox, networks: [shared], secrets: [token]}
  b: {image: busybox, volumes: ["cache:/c"]}
networks:
  shared: {external: true, name: platform}
volumes:
  cache: {external: true}
secrets:
  token: {external: {name: team-token}}
`;
  const plan = planFleet("s", loadCompose([{ name: "c.yaml", text }]).model);
  assert.deepEqual(plan.services[0]!.task.networks, [{ target: "platform", aliases: ["a"] }]);
  assert.deepEqual(plan.services[0]!.task.secrets, [{ source: "team-token", target: "token" }]);
  assert.deepEqual(plan.services[1]!.task.networks, [{ target: "s_default", aliases: ["b"] }]);
  assert.deepEqual(plan.services[1]!.task.mounts, [{ Type: "volume", Target: "/c", Source: "cache" }]);
  assert.deepEqual(
    plan.networks.map((n) => [n.name, n.external]),
    [
      ["platform", true],
      ["s_default", false],
    ],
  );
});

test("what a fleet cannot honour is refused, every key by name with why", () => {
  const text = `
services:
  app:
    build: .
    cap_add: [NET_ADMIN]
  web:
    image: nginx
    network_mode: host
  db: {image: postgres, networks: [lan]}
networks:
  lan: {driver: bridge}
  unused: {driver: bridge}
configs:
  conf: {}
`;
  const model = loadCompose([{ name: "c.yaml", text }]).model;
  assert.throws(
    () => planFleet("x", model),
    (e: unknown) => {
      assert.ok(e instanceof FleetPlanError);
      assert.deepEqual(e.problems, [
        "services.app.build: a fleet stack runs images; build them first (or use a single-host stack)",
        "services.app.cap_add: services run with Docker's default capabilities",
        "services.app: a fleet stack needs an image",
        "services.web.network_mode: tasks join the stack's overlay networks",
        "networks.lan.driver: a fleet stack's networks are overlay networks (got bridge)",
        "configs.conf: give file:, environment: or external: true",
      ]);
      return true;
    },
  );
  const ports = `services:\n  app:\n    image: a\n    ports: ["127.0.0.1:80:80", "80-81:80"]\n    volumes: ["./data:/data", "/abs:relative"]\n`;
  assert.throws(
    () => planFleet("x", loadCompose([{ name: "c.yaml", text: ports }]).model),
    (e: unknown) => {
      assert.ok(e instanceof FleetPlanError);
      assert.deepEqual(e.problems, [
        "services.app.volumes: a fleet stack's bind mounts name absolute host paths (got ./data)",
        "services.app.volumes: invalid volume specification: '/abs:relative': invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute",
        "services.app.ports: a host address is not supported for a fleet stack's ports (127.0.0.1:80:80)",
        'services.app.ports: port ranges differ in length ("80-81:80")',
      ]);
      return true;
    },
  );
});

test("helpers: shell words without a shell, Go durations, compose sizes", () => {
  assert.deepEqual(words(`sh -c "echo \\"hi\\" there" 'a b' c\\ d`), ["sh", "-c", 'echo "hi" there', "a b", "c d"]);
  assert.deepEqual(words(["as", "is"]), ["as", "is"]);
  assert.deepEqual(words(`a "" b`), ["a", "", "b"]);
  assert.throws(() => words(`echo "open`), /unterminated " quote in "echo \\"open"/);
  assert.equal(ms("1h2m3s"), 3_723_000);
  assert.equal(ms("1.5s"), 1500);
  assert.equal(ms("250ms"), 250);
  assert.equal(bytes("512m"), 512 * 1024 ** 2);
  assert.equal(bytes("1.5GB"), 1.5 * 1024 ** 3);
  assert.equal(bytes(1000), 1000);
});
