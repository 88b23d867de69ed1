// Compose files as stacks read them: interpolation, env files, merging, profiles, and every
// problem reported with its file, line and column.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ComposeError, formatProblem, interpolate, loadCompose, parseEnvFile } from "../src/stacks/compose/index.ts";

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ComposeError, `expected a ComposeError, got ${e}`);
    return e.problems.map(formatProblem);
  }
  assert.fail("expected the file to be refused");
};

test("interpolation: defaults, required, alternatives, $$ and nesting", () => {
  const env: Record<string, string> = { SET: "x", EMPTY: "" };
  const look = (n: string) => env[n];
  assert.equal(interpolate("a $SET b ${SET}", look), "a x b x");
  assert.equal(interpolate("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", look), "d d  d");
  assert.equal(interpolate("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}", look), "alt||alt|");
  assert.equal(interpolate("cost $$5 and $${SET}", look), "cost $5 and ${SET}");
  assert.equal(interpolate("${UNSET:-${SET}-y}", look), "x-y");
  assert.throws(() => interpolate("${UNSET:?set it please}", look), /required variable UNSET is missing a value: set it please/);
  assert.throws(() => interpolate("${EMPTY:?}", look), /required variable EMPTY is empty/);
  assert.equal(interpolate("${EMPTY?}", look), "");
  assert.throws(() => interpolate("${SET", look), /never closed/);
  assert.throws(() => interpolate("${SET/x/y}", look), /expected "}"/);
  assert.throws(() => interpolate("a $ b", look), /\$\$/);
});

test("env files: comments, export, quotes and escapes; bad lines named", () => {
  const { values, problems } = parseEnvFile(
    ["# comment", "", "A=1", "export B = two ", 'C="line\\nnext" ', "D='lit $X \\n'", "E=v # note", "F=", "bad key=1", 'G="open'].join(
      "\n",
    ),
  );
  assert.deepEqual(values, { A: "1", B: "two", C: "line\nnext", D: "lit $X \\n", E: "v", F: "" });
  assert.deepEqual(problems, [
    { line: 9, message: '"bad key" is not a variable name' },
    { line: 10, message: "the value of G has an unclosed quote" },
  ]);
});

test("a file is interpolated from the stack's env over .env, typed, and env files fill environment", () => {
  const compose = [
    "name: shop",
    "x-common: &common",
    "  restart: always",
    "services:",
    "  web:",
    "    <<: *common",
    "    image: nginx:${TAG:-latest}",
    "    ports: ['${PORT}:80']",
    "    deploy:",
    "      replicas: ${REPLICAS}",
    "    env_file: [web.env]",
    "    environment:",
    "      - MODE=${MODE}",
    '      - QUOTED="${REPLICAS}"',
    "    x-note: ignored",
  ].join("\n");
  const { name, model } = loadCompose([{ name: "compose.yaml", text: compose }], {
    env: { PORT: "8080", MODE: "prod" },
    dotEnv: "REPLICAS=3\nMODE=dev\n",
    files: { "web.env": "FROM_FILE=1\nMODE=file\n" },
  });
  assert.equal(name, "shop");
  const web = model.services.web!;
  assert.equal(web.image, "nginx:latest");
  assert.equal(web.restart, "always");
  assert.deepEqual(web.ports, ["8080:80"]);
  assert.equal(web.deploy?.replicas, 3);
  assert.deepEqual(web.environment, { FROM_FILE: "1", MODE: "prod", QUOTED: '"3"' });
  assert.equal("env_file" in web, false);
});

test("files merge in order: mappings by key, lists appended, commands replaced, ports and volumes unique", () => {
  const base = [
    "services:",
    "  app:",
    "    image: app:1",
    "    command: [serve, --a]",
    "    environment: [A=1, B=2]",
    "    dns: [1.1.1.1]",
    "    ports: ['80:80', '443:443']",
    "    volumes: ['data:/data', 'logs:/logs']",
    "    depends_on: [db]",
    "  db:",
    "    image: postgres",
    "volumes: {data: {}, logs: {}, other: {}}",
  ].join("\n");
  const override = [
    "services:",
    "  app:",
    "    image: app:2",
    "    command: [serve, --b]",
    "    environment: {B: '3', C: '4'}",
    "    dns: 8.8.8.8",
    "    ports: ['80:80', '8080:8080']",
    "    volumes: ['other:/data']",
    "    depends_on: {db: {condition: service_healthy}}",
  ].join("\n");
  const { model } = loadCompose([
    { name: "compose.yaml", text: base },
    { name: "compose.override.yaml", text: override },
  ]);
  const app = model.services.app!;
  assert.equal(app.image, "app:2");
  assert.deepEqual(app.command, ["serve", "--b"]);
  assert.deepEqual(app.environment, { A: "1", B: "3", C: "4" });
  assert.deepEqual(app.dns, ["1.1.1.1", "8.8.8.8"]);
  assert.deepEqual(app.ports, ["80:80", "443:443", "8080:8080"]);
  assert.deepEqual(app.volumes, ["other:/data", "logs:/logs"]);
  assert.deepEqual(app.depends_on, { db: { condition: "service_healthy" } });
});

test("profiles: a service with profiles runs only when one is active; depending on a disabled one is an error", () => {
  const text = [
    "services:",
    "  app: {image: a}",
    "  debug: {image: d, profiles: [debug]}",
    "  tools: {image: t, profiles: [tools], depends_on: [debug]}",
  ].join("\n");
  assert.deepEqual(Object.keys(loadCompose([{ name: "c.yaml", text }]).model.services), ["app"]);
  assert.deepEqual(Object.keys(loadCompose([{ name: "c.yaml", text }], { profiles: ["debug"] }).model.services), ["app", "debug"]);
  assert.deepEqual(
    problemsOf(() => loadCompose([{ name: "c.yaml", text }], { profiles: ["tools"] })),
    ["c.yaml:4:52: service tools depends on debug, whose profiles are not active"],
  );
});

test("every problem is listed with file:line:column: unknown keys by name, bad values, YAML and interpolation errors", () => {
  const text = [
    "services:", //                     1
    "  web:", //                        2
    "    image: nginx", //              3
    "    devices: [/dev/sda]", //       4  unknown key
    "    restart: sometimes", //        5  bad value
    "    healthcheck:", //              6
    "      interval: 10 seconds", //    7  bad duration
    "    networks: [front]", //         8  undefined network
    "  worker:", //                     9
    "    command: run ${NEED:?set NEED}", // 10 required variable
    "volumes:", //                      11
    "  data:", //                       12
    "    drivr: local", //              13 unknown key
  ].join("\n");
  assert.deepEqual(
    problemsOf(() => loadCompose([{ name: "stack.yaml", text }])),
    ["stack.yaml:10:14: required variable NEED is missing a value: set NEED"],
  );
  const problems = problemsOf(() => loadCompose([{ name: "stack.yaml", text }], { env: { NEED: "1" } }));
  assert.deepEqual(problems.sort(), [
    "stack.yaml:13:5: volumes.data: unknown key 'drivr' (not supported by Berth)",
    "stack.yaml:4:5: services.web: unknown key 'devices' (not supported by Berth)",
    "stack.yaml:5:14: services.web.restart: expected no, always, unless-stopped or on-failure[:N]",
    "stack.yaml:7:17: services.web.healthcheck.interval: expected a duration such as 10s, 1m30s or 500ms",
  ]);
  // Once the schema holds, references are checked: every service's, all at once.
  const refs = [
    "services:",
    "  web: {image: a, networks: [front], volumes: ['data:/d'], secrets: [key]}",
    "  job: {build: ., depends_on: [nope]}",
  ].join("\n");
  assert.deepEqual(
    problemsOf(() => loadCompose([{ name: "r.yaml", text: refs }])),
    [
      "r.yaml:2:29: service web refers to undefined network front",
      "r.yaml:2:48: service web refers to undefined volume data",
      "r.yaml:2:70: service web refers to undefined secret key",
      "r.yaml:3:31: service job depends on undefined service nope",
    ],
  );
  assert.deepEqual(problemsOf(() => loadCompose([{ name: "y.yaml", text: "services:\n  web:\n    image: a\n    image: b\n" }])).length, 1);
  assert.deepEqual(
    problemsOf(() => loadCompose([{ name: "y.yaml", text: "services:\n  web:\n    environment: [A=${B:-c}]\n" }])),
    ["y.yaml:3:22: Missing , or : between flow sequence items"],
  );
  assert.deepEqual(
    problemsOf(() => loadCompose([{ name: "e.yaml", text: "services:\n  web: {}\n" }])),
    ["e.yaml:2:3: service web has neither an image nor a build"],
  );
});

test("aliases that expand without end are refused, not followed", () => {
  // x-a is ten values, x-b ten x-a's, … x-i ten x-h's: 10^9 values once expanded.
  const level = "abcdefghi";
  const lines = ["x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"];
  for (let i = 1; i < level.length; i++)
    lines.push(
      `x-${level[i]}: &${level[i]} [${Array(10)
        .fill(`*${level[i - 1]}`)
        .join(", ")}]`,
    );
  lines.push("services:", "  web: {image: a}");
  assert.match(problemsOf(() => loadCompose([{ name: "laughs.yaml", text: lines.join("\n") }]))[0]!, /expands to over 200000 values/);
});
