// Each test file gets its own database, copied from a migrated template that scripts/test.ts prepares.
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.BERTH_TEST_PG_ADMIN;
  if (!url) throw new Error("BERTH_TEST_PG_ADMIN is unset: run tests through `npm test`");
  return url;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const template = process.env.BERTH_TEST_TEMPLATE ?? "berth_test_template";
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    // Identifiers can't be parameters; both names are generated or fixed here.
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
