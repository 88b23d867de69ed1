// Offline Prisma migrations through the WASM schema engine (../shared PRISMA-OFFLINE.md, step 2).
// New migrations are a schema-to-schema diff against a snapshot kept beside them, so no shadow
// database is involved. The command line is scripts/db.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import { repoRoot } from "./paths.ts";

const migrationsDir = join(repoRoot, "prisma/migrations");
const schemaPath = join(repoRoot, "prisma/schema.prisma");
/** The schema as of the newest migration; the `from` side of the next diff. */
const snapshotPath = join(migrationsDir, "schema.snapshot.prisma");
const noFilters = { externalTables: [], externalEnums: [] };

interface Engine {
  /** Closes the database connections the engine opened; free() alone leaves them open. */
  dispose(): Promise<void>;
  diff(p: unknown): Promise<{ exitCode: number; stdout?: string }>;
  applyMigrations(p: unknown): Promise<{ appliedMigrationNames: string[] }>;
  free(): void;
}

type EngineModule = { SchemaEngine: { new: (...args: unknown[]) => Promise<unknown> } };
let engineModule: Promise<EngineModule> | null = null;

/**
 * Instantiates the engine's wasm by hand, once per process, so that no --experimental-wasm-modules
 * flag is needed on Node 20 (the bindings keep the instance in a module-level variable).
 */
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    const require = createRequire(import.meta.url);
    const pkgDir = join(require.resolve("@prisma/schema-engine-wasm"), "..");
    const bg = await import(pathToFileURL(join(pkgDir, "schema_engine_bg.js")).href);
    const { instance } = await WebAssembly.instantiate(readFileSync(join(pkgDir, "schema_engine_bg.wasm")), {
      "./schema_engine_bg.js": bg,
    });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bg as EngineModule;
  })();
  return engineModule;
}

async function loadEngine(connectionString: string): Promise<Engine> {
  const bg = await loadEngineModule();
  const schema = readFileSync(schemaPath, "utf8");
  // Track the adapters the engine connects, so their pools can be closed when we are done.
  const opened: Array<{ dispose(): Promise<void> }> = [];
  const factory = new PrismaPg({ connectionString });
  const tracked = new Proxy(factory, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== "connect" && prop !== "connectToShadowDb") return typeof v === "function" ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        const a = await (v as (...x: unknown[]) => Promise<{ dispose(): Promise<void> }>).apply(target, args);
        opened.push(a);
        return a;
      };
    },
  });
  const adapter = bindMigrationAwareSqlAdapterFactory(tracked);
  const log = (msg: string) => {
    if (process.env.BERTH_MIGRATE_DEBUG) process.stderr.write(`[schema-engine] ${msg}\n`);
  };
  const engine = (await bg.SchemaEngine.new({ datamodels: [["schema.prisma", schema]] }, log, adapter)) as Omit<Engine, "dispose">;
  return Object.assign(engine, {
    async dispose() {
      engine.free();
      await Promise.all(opened.map((a) => a.dispose().catch(() => {})));
    },
  });
}

function schemaSource(content: string) {
  return { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content }] };
}

async function diffSql(engine: Engine, schema: string): Promise<string> {
  const from = existsSync(snapshotPath) ? schemaSource(readFileSync(snapshotPath, "utf8")) : { tag: "empty" };
  const result = await engine.diff({ from, to: schemaSource(schema), script: true, exitCode: null, filters: noFilters });
  return (result.stdout ?? "").trim();
}

export function isEmptyMigration(sql: string): boolean {
  return sql.trim() === "" || /^-- This is an empty migration/.test(sql.trim());
}

function migrationDirs(): string[] {
  if (!existsSync(migrationsDir)) return [];
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(migrationsDir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort();
}

/** Applies pending migrations; returns the names just applied. */
export async function deployMigrations(connectionString: string): Promise<string[]> {
  const engine = await loadEngine(connectionString);
  try {
    const lockPath = join(migrationsDir, "migration_lock.toml");
    const out = await engine.applyMigrations({
      migrationsList: {
        baseDir: migrationsDir,
        lockfile: { path: "migration_lock.toml", content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null },
        shadowDbInitScript: "",
        migrationDirectories: migrationDirs().map((dir) => ({
          path: dir,
          migrationFile: {
            path: "migration.sql",
            content: { tag: "ok", value: readFileSync(join(migrationsDir, dir, "migration.sql"), "utf8") },
          },
        })),
      },
      filters: noFilters,
    });
    return out.appliedMigrationNames;
  } finally {
    await engine.dispose();
  }
}

/** The SQL a new migration would contain; empty when schema.prisma matches the migrations. */
export async function pendingSchemaDiff(connectionString: string, schema = readFileSync(schemaPath, "utf8")): Promise<string> {
  // A diff between two datamodels reads no tables, but the engine connects when it starts.
  const engine = await loadEngine(connectionString);
  try {
    return await diffSql(engine, schema);
  } finally {
    await engine.dispose();
  }
}

export async function createMigration(connectionString: string, name: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error("migration name: lower-case letters, digits and _");
  const sql = await pendingSchemaDiff(connectionString);
  if (isEmptyMigration(sql)) {
    console.log("schema.prisma matches the migrations; nothing to write");
    return;
  }
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const dir = join(migrationsDir, `${stamp}_${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "migration.sql"), `${sql}\n`);
  writeFileSync(join(migrationsDir, "migration_lock.toml"), 'provider = "postgresql"\n');
  writeFileSync(snapshotPath, readFileSync(schemaPath, "utf8"));
  console.log(`wrote ${dir}/migration.sql`);
}
