// Fails when prisma/schema.prisma changed without a migration (`npm run db:migration -- <name>`).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isEmptyMigration, pendingSchemaDiff } from "../../../scripts/migrate.ts";
import { repoRoot } from "../../../scripts/paths.ts";
import { createTestDatabase, type TestDatabase } from "@berth/test-support/db";

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database.drop();
});

test("schema.prisma matches the migrations", async () => {
  const sql = await pendingSchemaDiff(database.url);
  assert.ok(isEmptyMigration(sql), `schema.prisma has changes without a migration:\n${sql}`);
});

test("the drift check notices a schema change without a migration", async () => {
  // Guards against a check that cannot fail: add a column and expect SQL for it.
  const schema = readFileSync(join(repoRoot, "prisma/schema.prisma"), "utf8");
  const edited = schema.replace("model Team {\n", "model Team {\n  driftProbe String?\n");
  assert.notEqual(edited, schema);
  const sql = await pendingSchemaDiff(database.url, edited);
  assert.match(sql, /ALTER TABLE "team" ADD COLUMN\s+"driftProbe" TEXT/);
});
