// Database commands (they use DATABASE_URL, or start and stop the embedded cluster):
//   tsx scripts/db.ts create <name>   write prisma/migrations/<ts>_<name>/migration.sql
//   tsx scripts/db.ts deploy          apply pending migrations
//   tsx scripts/db.ts drift           exit 1 if schema.prisma differs from the migrations
import { openDatabase } from "./database.ts";
import { createMigration, deployMigrations, isEmptyMigration, pendingSchemaDiff } from "./migrate.ts";

const [cmd, arg] = process.argv.slice(2);
const db = await openDatabase();
try {
  if (cmd === "create") await createMigration(db.url, arg ?? "change");
  else if (cmd === "deploy") {
    const applied = await deployMigrations(db.url);
    console.log(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
  } else if (cmd === "drift") {
    const sql = await pendingSchemaDiff(db.url);
    if (sql && !isEmptyMigration(sql)) {
      console.error(`schema.prisma has changes without a migration:\n${sql}`);
      process.exitCode = 1;
    } else console.log("no drift");
  } else {
    console.error("usage: migrate.ts create <name> | deploy | drift");
    process.exitCode = 2;
  }
} finally {
  // The embedded cluster keeps running only for `npm start`; a one-off command leaves it as it found it.
  if (!process.env.DATABASE_URL) await db.stop();
}
