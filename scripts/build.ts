// Builds what the control plane serves, only when its sources changed since the last build:
// the single-file agent bundle (esbuild) and the Next.js production build.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { repoRoot } from "./paths.ts";

export const agentBundlePath = join(repoRoot, "apps/agent/dist/berth-agent.js");

/** Newest mtime of any file under `dirs`, skipping build outputs and dependencies. */
function newestSource(dirs: string[]): number {
  let newest = 0;
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name === ".next" || e.name === "dist" || e.name === "generated") continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  dirs.forEach(walk);
  return newest;
}

function builtAt(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

export async function buildAgentBundle(force = false): Promise<void> {
  const sources = newestSource([join(repoRoot, "apps/agent"), join(repoRoot, "packages/protocol")]);
  if (!force && builtAt(agentBundlePath) > sources) return;
  console.log("[berth setup] bundling the agent");
  await bundleAgentEntry(join(repoRoot, "apps/agent/src/cli.ts"), agentBundlePath);
  // apps/agent is an ES-module package; the bundle is CommonJS, as it is once installed on a host.
  writeFileSync(join(agentBundlePath, "../package.json"), '{ "type": "commonjs" }\n');
}

/**
 * Bundles an agent entry point into one CommonJS file, as the agent ships. The entry must call
 * serveAgentWorker() first: the bundle's worker threads run the bundle itself.
 */
export async function bundleAgentEntry(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    // Debian 12's own nodejs is 18; the installer accepts 18 and newer.
    target: "node18",
    format: "cjs",
    minify: false,
    sourcemap: false,
    legalComments: "inline",
    // Optional native speed-ups of ws; it falls back to JS when they are absent.
    external: ["bufferutil", "utf-8-validate"],
    // Tells worker-threads.ts to start workers from this file; the import.meta branch is for tsx.
    define: { __BERTH_AGENT_BUNDLE__: "true", "import.meta.url": "undefined", "import.meta.resolve": "undefined" },
    logLevel: "warning",
  });
}

export function buildWeb(force = false): void {
  const web = join(repoRoot, "apps/web");
  const sources = newestSource([
    join(web, "app"),
    join(web, "src"),
    join(repoRoot, "packages/api/src"),
    join(repoRoot, "packages/protocol/src"),
  ]);
  const stamp = Math.max(sources, statSync(join(web, "next.config.ts")).mtimeMs);
  if (!force && builtAt(join(web, ".next/BUILD_ID")) > stamp) return;
  console.log("[berth setup] building the web app (next build)");
  const r = spawnSync(process.execPath, [join(repoRoot, "node_modules/next/dist/bin/next"), "build"], {
    cwd: web,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  if (r.status !== 0) throw new Error("next build failed");
}

if (process.argv[1]?.endsWith("build.ts")) {
  await buildAgentBundle(true);
  buildWeb(true);
}
