// Prisma 7 reads the datasource URL from here rather than from schema.prisma.
// Migrations do not go through the Prisma CLI; see scripts/migrate.ts.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://unused@127.0.0.1/unused" },
});
