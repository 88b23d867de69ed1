import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Everything a local run keeps: the embedded Postgres, secrets, the local agent's state. */
export const dataDir = process.env.BERTH_DATA_DIR ?? join(repoRoot, ".berth");
