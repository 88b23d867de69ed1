// Secrets and configs on the control plane, against a real Postgres: sealed data, Swarm's update
// rule (labels only; the same data may be sent again), removal refused while a service refers to
// one, and the files a task gets (targets, owners, limits).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDb, type Db } from "@berth/db";
import { DomainError, ensureDefaultTeam, MAX_SERVICE_FILE_BYTES, SecretBox, ServiceFileStore, ServiceStore } from "../src/index.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";

let database: TestDatabase;
let db: Db;
let files: ServiceFileStore;
let services: ServiceStore;
let teamId: string;

before(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  files = new ServiceFileStore(db, new SecretBox("k".repeat(40), "berth/service-secrets/v1"));
  services = new ServiceStore(db, files);
  teamId = (await ensureDefaultTeam(db)).id;
});
after(async () => {
  await db.$disconnect();
  await database.drop();
});

const refusal = async (p: Promise<unknown>, code: string, message: RegExp) => {
  await assert.rejects(p, (e: unknown) => e instanceof DomainError && e.code === code && message.test(e.message));
};

test("a secret is sealed and never listed with its data; a config's data is shown", async () => {
  const s = await files.create(teamId, "secret", { name: "db_pw", data: Buffer.from("hunter2") }, null);
  const c = await files.create(teamId, "config", { name: "app.conf", data: Buffer.from("a=1\n") }, null);
  assert.equal(s.data, null);
  assert.equal(Buffer.from(c.data!, "base64").toString(), "a=1\n");
  const row = await db.serviceFile.findUniqueOrThrow({ where: { id: s.id } });
  assert.ok(!row.data.includes(Buffer.from("hunter2").toString("base64")), "sealed at rest");
  await refusal(files.create(teamId, "secret", { name: "db_pw", data: Buffer.from("x") }, null), "CONFLICT", /secret db_pw already exists/);
  // The same name is free in the other kind.
  await files.create(teamId, "config", { name: "db_pw", data: Buffer.from("x") }, null);
  await refusal(files.create(teamId, "secret", { name: "empty", data: Buffer.alloc(0) }, null), "INVALID", /larger than 0/);
  await refusal(
    files.create(teamId, "secret", { name: "big", data: Buffer.alloc(MAX_SERVICE_FILE_BYTES + 1) }, null),
    "INVALID",
    /at most 500 KiB/,
  );
});

test("update: labels with the version check; the same data may come again, other data is refused", async () => {
  const s = await files.create(teamId, "secret", { name: "token", data: Buffer.from("abc") }, null);
  const v2 = await files.update(s.id, "secret", 1, { labels: { tier: "db" }, data: Buffer.from("abc") });
  assert.deepEqual([v2.version, v2.labels], [2, { tier: "db" }]);
  await refusal(files.update(s.id, "secret", 1, { labels: {} }), "CONFLICT", /version 2 is current, not 1/);
  await refusal(files.update(s.id, "secret", 2, { labels: {}, data: Buffer.from("abd") }), "INVALID", /only updates to Labels/);
  await refusal(files.update(s.id, "secret", 2, { name: "other", labels: {} }), "INVALID", /only updates to Labels/);
});

test("a task's files: targets under /run/secrets and /, owners and modes; removal refused while a service uses one", async () => {
  await files.create(teamId, "secret", { name: "api_key", data: Buffer.from("k-123") }, null);
  await files.create(teamId, "config", { name: "site", data: Buffer.from("hello") }, null);
  const spec = {
    name: "reader",
    task: {
      image: "busybox",
      secrets: [{ source: "api_key" }, { source: "api_key", target: "/etc/key", uid: "1000", mode: 0o400 }],
      configs: [{ source: "site" }],
    },
    mode: { kind: "replicated", replicas: 0 },
  };
  const svc = await services.create(teamId, spec, null);
  const got = await services.taskFiles(teamId, svc.spec);
  assert.deepEqual(
    got.map((f) => [f.target, Buffer.from(f.data, "base64").toString(), f.uid, f.gid, f.mode]),
    [
      ["/run/secrets/api_key", "k-123", "0", "0", 0o444],
      ["/etc/key", "k-123", "1000", "0", 0o400],
      ["/site", "hello", "0", "0", 0o444],
    ],
  );
  const key = (await files.list([teamId], "secret")).find((f) => f.name === "api_key")!;
  await refusal(files.remove(key.id, "secret"), "INVALID", /secret 'api_key' is in use by the following service: reader/);
  // A spec naming what does not exist, or two files at one target, is refused when it is written.
  await refusal(
    services.create(teamId, { ...spec, name: "ghost", task: { image: "busybox", secrets: [{ source: "nope" }] } }, null),
    "NOT_FOUND",
    /secret nope not found/,
  );
  await refusal(
    services.create(
      teamId,
      {
        ...spec,
        name: "clash",
        task: { image: "busybox", secrets: [{ source: "api_key", target: "/x" }], configs: [{ source: "site", target: "/x" }] },
      },
      null,
    ),
    "INVALID",
    /two secrets or configs have the target \/x/,
  );
  await services.remove(svc.id);
  await files.remove(key.id, "secret");
  assert.ok(!(await files.list([teamId], "secret")).some((f) => f.name === "api_key"));
});
