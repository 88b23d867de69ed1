// `npm test`: the same setup as `npm start` (Postgres, migrations, builds), then every test file
// with Node's test runner. `npm test -- <substring>` runs only the files whose path contains it.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { openTemplateDatabase } from "./database.ts";
import { buildAgentBundle, buildWeb } from "./build.ts";
import { repoRoot } from "./paths.ts";

const TEMPLATE = "berth_test_template";
// Node 20 applies --test-timeout to each test file as a whole (and to each test in it).
const TEST_TIMEOUT_MS = 10 * 60_000;
const filters = process.argv.slice(2);

function findTests(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".") || e.name === "dist") continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) findTests(p, out);
    else if (e.name.endsWith(".test.ts") && statSync(p).isFile()) out.push(p);
  }
  return out;
}

const files = ["packages", "apps", "scripts", "e2e"]
  .flatMap((d) => findTests(join(repoRoot, d)))
  .filter((f) => filters.length === 0 || filters.some((s) => relative(repoRoot, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}

// A fresh template each run: every test file copies it into a database of its own.
const template = await openTemplateDatabase(TEMPLATE);
const admin = template.adminUrl;
let status = 1;

/** Untracked, not ignored entries at the repository's top level (none when this is not a git checkout). */
function untrackedAtRoot(): string[] {
  const r = spawnSync("git", ["status", "--porcelain", "--untracked-files=normal", "--", "."], { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0) return [];
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("?? "))
    .map((l) => l.slice(3))
    .filter((f) => !f.replace(/\/$/, "").includes("/"));
}
const before = new Set(untrackedAtRoot());
try {
  await buildAgentBundle();
  buildWeb();

  if (filters.length === 0) {
    // The whole monorepo type-checks under the strict base config, or nothing runs.
    console.log("[berth test] type-checking");
    const tsc = spawnSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"], {
      cwd: repoRoot,
      stdio: "inherit",
    });
    if (tsc.status !== 0) throw new Error("type errors (npm run typecheck)");
    console.log("[berth test] linting");
    const lint = spawnSync(process.execPath, [join(repoRoot, "node_modules/@biomejs/biome/bin/biome"), "ci", "."], {
      cwd: repoRoot,
      stdio: "inherit",
    });
    if (lint.status !== 0) throw new Error("lint errors or unformatted files (npm run lint; npm run format fixes most)");
  }
  console.log(`[berth test] ${files.length} test files`);
  status = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      // A hung test fails after TEST_TIMEOUT_MS instead of stalling CI; the slowest file takes about two minutes.
      [
        "--import",
        "tsx",
        "--test",
        "--test-concurrency=1",
        `--test-timeout=${TEST_TIMEOUT_MS}`,
        "--test-reporter=spec",
        ...files.map((f) => relative(repoRoot, f)),
      ],
      {
        cwd: repoRoot,
        stdio: "inherit",
        env: {
          ...process.env,
          BERTH_TEST_PG_ADMIN: admin,
          BERTH_TEST_TEMPLATE: TEMPLATE,
          LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
          // Agents started by tests leave the machine's own network namespace alone: bridge
          // networking is tested in the lab, in namespaces the test makes.
          BERTH_NETWORKING: "0",
        },
      },
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  // Tests write in their own temporary directories; a file a test (or a process it started) left
  // at the top of the repository fails the run.
  const strays = untrackedAtRoot().filter((f) => !before.has(f));
  if (strays.length) {
    console.error(`[berth test] files left at the top of the repository: ${strays.join(", ")}`);
    status ||= 1;
  }
} finally {
  await template.close();
}
process.exit(status);
