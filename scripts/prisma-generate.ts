// `prisma generate` without the native engine download (see ../shared PRISMA-OFFLINE.md, step 1):
// generate never executes the schema engine, it only needs the variable to name an existing file.
import { spawnSync } from "node:child_process";
import { repoRoot } from "./paths.ts";
import { join } from "node:path";

const r = spawnSync(
  process.execPath,
  [join(repoRoot, "node_modules/prisma/build/index.js"), "generate", "--schema", "prisma/schema.prisma"],
  {
    cwd: repoRoot,
    stdio: "inherit",
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false",
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
      DATABASE_URL: process.env.DATABASE_URL ?? "postgresql://unused@127.0.0.1/unused",
    },
  },
);
process.exit(r.status ?? 1);
