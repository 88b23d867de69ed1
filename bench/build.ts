// Build times against dockerd's classic builder, with the same docker CLI (DOCKER_BUILDKIT=0, so
// both take the classic API) and the same Dockerfile: COPY of a context of a few thousand files,
// and a few RUN steps. Three figures, each a median over rounds in alternating order:
//   cold      --no-cache: every step runs (the base image is loaded in both beforehand);
//   cached    nothing changed: every step from the cache;
//   one file  one copied file changed: the steps from its COPY on run again.
// RUN steps use --network none in both: no daemon touches the machine's network.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { busyboxArchive, docker, ready, removeBerthContainers, startBerth, startDockerd, unmountUnder, type Daemon } from "./docker-api.ts";
import { median } from "./stats.ts";

const run = promisify(execFile);

export interface BuildFigures {
  coldMs: number | null;
  cachedMs: number | null;
  oneFileMs: number | null;
  error?: string;
}

export interface BuildBenchResult {
  rounds: number;
  files: number;
  berth: BuildFigures;
  dockerd: BuildFigures;
}

const DOCKERFILE = `FROM busybox
COPY src/ /app/src/
RUN find /app/src -type f | wc -l > /app/count
COPY config.txt /app/
RUN cat /app/config.txt >> /app/count && mkdir -p /app/gen && for i in $(seq 1 200); do echo $i > /app/gen/$i; done
RUN tar -cf /app/src.tar -C /app src
ENV APP_HOME=/app
CMD ["cat", "/app/count"]
`;

function writeContext(dir: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, "src", `d${i % 40}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), randomBytes(512).toString("hex"));
  }
  writeFileSync(join(dir, "config.txt"), "round 0\n");
  writeFileSync(join(dir, "Dockerfile"), DOCKERFILE);
}

async function timedBuild(d: Daemon, ctx: string, extra: string[] = []): Promise<number> {
  const t0 = performance.now();
  await run("docker", ["-H", `unix://${d.socket}`, "build", "-q", "--network", "none", ...extra, "-t", "bench-build", ctx], {
    maxBuffer: 16 << 20,
    env: { ...process.env, DOCKER_BUILDKIT: "0", DOCKER_CLI_HINTS: "false" },
  });
  return performance.now() - t0;
}

export async function buildBench(opts: { rounds: number; files: number }): Promise<BuildBenchResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-build-"));
  const cgroupParent = `/berth-bench-build-${process.pid}`;
  const daemons: Daemon[] = [];
  const errors: Partial<Record<Daemon["name"], string>> = {};
  try {
    const archive = await busyboxArchive(work);
    const ctx = join(work, "ctx");
    writeContext(ctx, opts.files);
    daemons.push(startBerth(work, cgroupParent));
    daemons.push(startDockerd(work));
    const live: Daemon[] = [];
    for (const d of daemons) {
      try {
        await ready(d);
        await docker(d.socket, ["load", "-i", archive]);
        // A first build fills each daemon's cache and warms its page cache of the context.
        await timedBuild(d, ctx);
        live.push(d);
      } catch (e) {
        errors[d.name] = (e as Error).message.split("\n")[0]!;
      }
    }
    const times = new Map(live.map((d) => [d.name, { cold: [] as number[], cached: [] as number[], oneFile: [] as number[] }]));
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? live : [...live].reverse();
      for (const d of order) {
        const t = times.get(d.name)!;
        t.cold.push(await timedBuild(d, ctx, ["--no-cache"]));
        t.cached.push(await timedBuild(d, ctx));
      }
      // One file changes between rounds; each daemon then rebuilds from the same context.
      writeFileSync(join(ctx, "config.txt"), `round ${r + 1}\n`);
      for (const d of order) times.get(d.name)!.oneFile.push(await timedBuild(d, ctx));
    }
    const figures = (name: Daemon["name"]): BuildFigures => {
      const t = times.get(name);
      return {
        coldMs: t ? median(t.cold) : null,
        cachedMs: t ? median(t.cached) : null,
        oneFileMs: t ? median(t.oneFile) : null,
        ...(errors[name] ? { error: errors[name] } : {}),
      };
    };
    return { rounds: opts.rounds, files: opts.files, berth: figures("berth"), dockerd: figures("dockerd") };
  } finally {
    for (const d of daemons) await d.stop();
    await removeBerthContainers(work, cgroupParent);
    await unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  }
}
