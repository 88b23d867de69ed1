// A fleet stack deployed against a real Postgres: a redeploy of the same file changes nothing, an
// env change updates exactly the services that use it, removed services and networks are pruned,
// and a stack with a problem changes nothing at all.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDb, type Db } from "@berth/db";
import { DomainError, ensureDefaultTeam, OverlayStore, SecretBox, ServiceFileStore, ServiceStore } from "../src/index.ts";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { deployFleetStack, type FleetStores } from "../src/stacks/fleet-deploy.ts";
import { planFleet } from "../src/stacks/fleet-plan.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";

let database: TestDatabase;
let db: Db;
let stores: FleetStores;
let teamId: string;

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  const files = new ServiceFileStore(db, new SecretBox("k".repeat(40), "berth/service-secrets/v1"));
  stores = { files, services: new ServiceStore(db, files), networks: new OverlayStore(db) };
  teamId = (await ensureDefaultTeam(db)).id;
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

const COMPOSE = `
services:
  web:
    image: nginx:1.25
    environment: {GREETING: "\${GREETING}"}
    networks: [front]
    secrets: [token]
  worker:
    image: busybox
    command: sleep 3600
    environment: {QUEUE: jobs}
  cache:
    image: redis:7
networks:
  front: {}
secrets:
  token: {file: ./token.txt}
`;

const deploy = (text: string, env: Record<string, string>, files: Record<string, string> = { "token.txt": "s3cret" }) =>
  deployFleetStack(
    stores,
    teamId,
    "shop",
    planFleet("shop", loadCompose([{ name: "compose.yaml", text }], { env }).model),
    { files, env },
    null,
  );

const versions = async () => Object.fromEntries((await stores.services.list([teamId])).map((s) => [s.spec.name, s.version] as const));

test("first deploy makes everything; the same file again changes nothing; an env change updates only its user", async () => {
  const first = await deploy(COMPOSE, { GREETING: "hello" });
  assert.deepEqual(first.created, ["shop_web", "shop_worker", "shop_cache"]);
  assert.deepEqual(first.networksCreated.sort(), ["shop_default", "shop_front"]);
  assert.deepEqual(first.filesCreated, ["shop_token"]);
  const v1 = await versions();

  const again = await deploy(COMPOSE, { GREETING: "hello" });
  assert.deepEqual(again, {
    created: [],
    updated: [],
    unchanged: ["shop_web", "shop_worker", "shop_cache"],
    removed: [],
    networksCreated: [],
    networksRemoved: [],
    networksInUse: [],
    filesCreated: [],
  });
  assert.deepEqual(await versions(), v1);

  const changed = await deploy(COMPOSE, { GREETING: "bonjour" });
  assert.deepEqual(changed.updated, ["shop_web"]);
  assert.deepEqual(changed.unchanged, ["shop_worker", "shop_cache"]);
  const v2 = await versions();
  assert.equal(v2.shop_web, v1.shop_web! + 1);
  assert.equal(v2.shop_worker, v1.shop_worker);
  const web = (await stores.services.list([teamId])).find((s) => s.spec.name === "shop_web")!;
  assert.deepEqual(web.spec.task.env, ["GREETING=bonjour"]);
});

test("a service and a network left out of the file are pruned; others are not touched", async () => {
  const smaller = COMPOSE.replace(/ {2}cache:\n {4}image: redis:7\n/, "").replace("    networks: [front]\n", "");
  const r = await deploy(smaller, { GREETING: "bonjour" });
  assert.deepEqual(r.removed, ["shop_cache"]);
  assert.deepEqual(r.updated, ["shop_web"]); // it moved to the default network
  assert.deepEqual(r.networksRemoved, ["shop_front"]);
  const names = (await stores.services.list([teamId])).map((s) => s.spec.name).sort();
  assert.deepEqual(names, ["shop_web", "shop_worker"]);
});

test("a stack with a problem changes nothing, and says every problem", async () => {
  const before = await versions();
  const bad = `${COMPOSE.replace("image: busybox", "image: 'Not A Reference'")}\n`;
  await assert.rejects(deploy(bad, { GREETING: "x" }, { "token.txt": "other" }), (e: unknown) => {
    assert.ok(e instanceof DomainError && e.code === "INVALID");
    assert.match(e.message, /service shop_worker: task\.image: invalid image reference/);
    assert.match(e.message, /secret shop_token changed: secrets cannot change once made/);
    return true;
  });
  assert.deepEqual(await versions(), before);
  await assert.rejects(deploy(COMPOSE, { GREETING: "x" }, {}), /secret shop_token: file \.\/token\.txt not found in the stack's source/);
});
