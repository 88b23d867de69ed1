// Stacks as records against a real Postgres: a bad source is refused with every problem and
// nothing saved; each deploy is recorded with what it changed; an env change updates only the
// service that uses it; a rollback restores an earlier deploy's specs; env values never come back;
// a deploy the edge refuses changes nothing and is recorded as failed; remove leaves nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDb, type Db } from "@berth/db";
import {
  ComposeError,
  DomainError,
  ensureDefaultTeam,
  forbidden,
  OverlayStore,
  SecretBox,
  ServiceFileStore,
  ServiceStore,
  StackStore,
  type StackSource,
} from "../src/index.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";

let database: TestDatabase;
let db: Db;
let services: ServiceStore;
let networks: OverlayStore;
let files: ServiceFileStore;
let stacks: StackStore;
let teamId: string;
const me = { id: null, name: "tester" };

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  files = new ServiceFileStore(db, new SecretBox("k".repeat(40), "berth/service-secrets/v1"));
  services = new ServiceStore(db, files);
  networks = new OverlayStore(db);
  stacks = new StackStore(db, new SecretBox("k".repeat(40), "berth/stack-env/v1"), { services, networks, files });
  teamId = (await ensureDefaultTeam(db)).id;
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

const compose = (webImage: string) => `
services:
  web:
    image: ${webImage}
    environment: {GREETING: "\${GREETING}", DB_PASSWORD: "\${DB_PASSWORD}"}
    secrets: [token]
  client:
    image: busybox
    command: ["sh", "-c", "wget -qO- http://web"]
secrets:
  token: {environment: TOKEN}
`;
const source = (webImage = "nginx:1.25"): StackSource => ({
  files: { "compose.yaml": compose(webImage) },
  composeFiles: ["compose.yaml"],
  profiles: [],
});
const specsOf = async () =>
  Object.fromEntries(
    (await services.list([teamId]))
      .filter((s) => s.spec.name.startsWith("shop_"))
      .map((s) => [s.spec.name, { version: s.version, image: s.spec.task.image, env: s.spec.task.env }] as const),
  );

test("a source with problems is refused with each at its place, and nothing is saved", async () => {
  const bad: StackSource = {
    files: { "compose.yaml": "services:\n  web:\n    image: nginx\n    colour: blue\n  db:\n    imagee: postgres\n" },
    composeFiles: ["compose.yaml"],
    profiles: [],
  };
  await assert.rejects(
    () => stacks.create(teamId, { name: "broken", source: bad, env: {} }, null),
    (e: unknown) => {
      assert.ok(e instanceof ComposeError);
      const where = e.problems.map((p) => `${p.file}:${p.line}`);
      assert.ok(where.includes("compose.yaml:4"), where.join(" "));
      assert.ok(where.includes("compose.yaml:6"), where.join(" "));
      return true;
    },
  );
  assert.equal((await stacks.list([teamId])).length, 0);
  await assert.rejects(() => stacks.create(teamId, { name: "Bad Name", source: source(), env: {} }, null));
  // A secret from a file would sit in the source, which every reader sees: refused, with the way out.
  const fileSecret: StackSource = {
    files: {
      "compose.yaml": "services:\n  web:\n    image: nginx\n    secrets: [key]\nsecrets:\n  key: {file: ./key.pem}\n",
      "key.pem": "k",
    },
    composeFiles: ["compose.yaml"],
    profiles: [],
  };
  await assert.rejects(() => stacks.create(teamId, { name: "leaky", source: fileSecret, env: {} }, null), /environment: VAR/);
  assert.equal((await stacks.list([teamId])).length, 0);
});

test("deploys are recorded; an env change updates only its user; a rollback restores the first deploy's specs", async () => {
  const stack = await stacks.create(
    teamId,
    { name: "shop", source: source(), env: { GREETING: "hello", DB_PASSWORD: "pw-1", TOKEN: "t0ken" } },
    null,
  );
  const first = await stacks.deploy(stack.id, me);
  assert.equal(first.number, 1);
  assert.equal(first.outcome, "succeeded");
  assert.deepEqual(first.summary.created, ["shop_web", "shop_client"]);
  const v1 = await specsOf();

  // Env values never come back: only their names.
  const view = await stacks.get(stack.id);
  assert.deepEqual(view.envNames, ["DB_PASSWORD", "GREETING", "TOKEN"]);
  assert.ok(!JSON.stringify(view).includes("pw-1"));
  assert.ok(!JSON.stringify(await stacks.history(stack.id)).includes("pw-1"));

  // The same source again: nothing changes.
  const same = await stacks.deploy(stack.id, me, { reason: "redeploy" });
  assert.deepEqual(same.summary.unchanged, ["shop_web", "shop_client"]);
  assert.deepEqual(await specsOf(), v1);

  // An env change (a value patched, the other kept): only web, which uses it, gets a new version.
  await stacks.update(stack.id, { env: { GREETING: "bonjour" } });
  const envDeploy = await stacks.deploy(stack.id, me);
  assert.deepEqual(envDeploy.summary.updated, ["shop_web"]);
  assert.deepEqual(envDeploy.summary.unchanged, ["shop_client"]);
  const v3 = await specsOf();
  assert.ok(v3.shop_web!.env.includes("GREETING=bonjour") && v3.shop_web!.env.includes("DB_PASSWORD=pw-1"));
  assert.equal(v3.shop_client!.version, v1.shop_client!.version);

  // A new image for web.
  await stacks.update(stack.id, { source: source("nginx:1.27") });
  await stacks.deploy(stack.id, me);
  assert.equal((await specsOf()).shop_web!.image, "nginx:1.27");

  // Back to deploy #1: its image and env, as a new deploy that says what it rolled back to.
  const back = await stacks.rollback(stack.id, 1, me);
  assert.equal(back.reason, "rollback");
  assert.equal(back.rollbackOf, 1);
  assert.equal(back.outcome, "succeeded");
  const restored = await specsOf();
  assert.equal(restored.shop_web!.image, v1.shop_web!.image);
  assert.deepEqual(restored.shop_web!.env, v1.shop_web!.env);
  assert.equal(restored.shop_client!.version, v1.shop_client!.version, "client was never touched");
  assert.deepEqual(
    (await stacks.history(stack.id)).map((d) => [d.number, d.reason, d.outcome]),
    [
      [5, "rollback", "succeeded"],
      [4, "deploy", "succeeded"],
      [3, "deploy", "succeeded"],
      [2, "redeploy", "succeeded"],
      [1, "deploy", "succeeded"],
    ],
  );
  await assert.rejects(
    () => stacks.rollback(stack.id, 99, me),
    (e: unknown) => e instanceof DomainError && e.code === "NOT_FOUND",
  );
});

test("a deploy the edge refuses changes nothing and is recorded as failed, with why", async () => {
  const stack = (await stacks.list([teamId])).find((s) => s.name === "shop")!;
  const before = await specsOf();
  await stacks.update(stack.id, { source: source("nginx:1.29") });
  await assert.rejects(
    () =>
      stacks.deploy(stack.id, me, {
        checkSpec: async (spec) => {
          if (spec.task.image === "nginx:1.29") throw forbidden("the team's policy refuses it");
        },
      }),
    /the team's policy refuses it/,
  );
  assert.deepEqual(await specsOf(), before);
  const [last] = await stacks.history(stack.id);
  assert.equal(last!.outcome, "failed");
  assert.match(last!.error ?? "", /shop_web: the team's policy refuses it/);
});

test("remove takes the stack's services and secrets with it, and nothing else", async () => {
  const other = await services.create(teamId, { name: "standalone", task: { image: "busybox" } }, null);
  const stack = (await stacks.list([teamId])).find((s) => s.name === "shop")!;
  const { removed } = await stacks.remove(stack.id);
  assert.deepEqual(removed.sort(), ["shop_client", "shop_default", "shop_token", "shop_web"]);
  assert.deepEqual(
    (await services.list([teamId])).map((s) => s.spec.name),
    ["standalone"],
  );
  assert.equal((await files.list([teamId], "secret")).length, 0);
  assert.equal((await stacks.list([teamId])).length, 0);
  await services.remove(other.id);
});
