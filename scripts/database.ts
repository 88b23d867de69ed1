// Where the control plane's database comes from: DATABASE_URL when set, otherwise the embedded cluster.
import { join } from "node:path";
import { dataDir } from "./paths.ts";
import { dropDatabase, ensureDatabase, startEmbeddedPostgres } from "./postgres.ts";
import { deployMigrations } from "./migrate.ts";

export interface Database {
  url: string;
  /** Superuser URL of the embedded cluster (null for an external DATABASE_URL). */
  adminUrl: string | null;
  stop(): Promise<void>;
}

export async function openDatabase(name = "berth"): Promise<Database> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, adminUrl: null, stop: async () => {} };
  }
  const pg = await startEmbeddedPostgres(join(dataDir, "postgres"));
  await ensureDatabase(pg.adminUrl, name);
  return { url: pg.urlFor(name), adminUrl: pg.adminUrl, stop: () => pg.stop() };
}

/** Opens the database and applies pending migrations. */
export async function openMigratedDatabase(name = "berth"): Promise<Database> {
  const db = await openDatabase(name);
  const applied = await deployMigrations(db.url);
  if (applied.length) console.log(`[berth setup] applied migrations: ${applied.join(", ")}`);
  return db;
}

/**
 * A freshly migrated template database, for runs (tests, benchmarks) that copy it into one
 * database per file or figure. Returns the admin URL to copy it with and a cleanup.
 */
export async function openTemplateDatabase(template: string): Promise<{ adminUrl: string; close(): Promise<void> }> {
  const db = await openDatabase("postgres");
  const adminUrl = db.adminUrl ?? db.url;
  try {
    await dropDatabase(adminUrl, template);
    await ensureDatabase(adminUrl, template);
    const url = new URL(adminUrl);
    url.pathname = `/${template}`;
    await deployMigrations(url.toString());
  } catch (e) {
    await db.stop();
    throw e;
  }
  return {
    adminUrl,
    async close() {
      await dropDatabase(adminUrl, template).catch(() => {});
      await db.stop();
    },
  };
}
