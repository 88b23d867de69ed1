// Container entry point for the control plane (see Dockerfile): apply pending migrations to
// DATABASE_URL, then run the server. `npm start` is the development path and does more.
import { deployMigrations } from "./migrate.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required");
  process.exit(1);
}
const applied = await deployMigrations(url);
if (applied.length) console.log(`applied migrations: ${applied.join(", ")}`);
await import("../apps/web/server.ts");
