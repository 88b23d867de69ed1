// Figure: pull a ~200 MB, 5-layer image from a loopback docker-registry and unpack it, with
// Berth's pull (content store + overlay snapshots) and with `skopeo copy` + `umoci unpack`.
import { execFile, fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import * as tar from "tar";
import { ContentStore } from "../apps/agent/src/content/store.ts";
import { RegistryClient } from "../apps/agent/src/registry/client.ts";
import { MediaType } from "../apps/agent/src/registry/media-types.ts";
import { storeTarAsLayer, dockerManifest } from "../apps/agent/src/images/new-layer.ts";
import { bundleAgentEntry } from "../scripts/build.ts";
import { repoRoot } from "../scripts/paths.ts";
import { startRegistry } from "@berth/test-support/registry";
import { median } from "./stats.ts";

const run = promisify(execFile);

export interface PullBenchResult {
  imageBytes: number;
  compressedBytes: number;
  rounds: number;
  berthSeconds: number;
  skopeoUmociSeconds: number;
  /** Berth's throughput over skopeo+umoci's: above 1 means Berth is faster. */
  speedup: number;
}

/** Layer content that compresses about as well as real binaries and text (~2:1). */
function layerFiles(dir: string, megabytes: number): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const text = Buffer.from("the quick brown fox jumps over the lazy dog 0123456789\n".repeat(20_000));
  for (let i = 0; i < megabytes; i++) {
    const name = `f${i}.bin`;
    writeFileSync(join(dir, name), Buffer.concat([randomBytes(512 * 1024), text.subarray(0, 512 * 1024)]));
    files.push(name);
  }
  return files;
}

function reply(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`the bench pull agent exited (${code})`));
    child.once("exit", exited);
    child.once("message", (m: { error?: string }) => {
      child.off("exit", exited);
      if (m.error) reject(new Error(m.error));
      else resolve();
    });
  });
}

export async function imagePullBench(opts: { rounds: number; layers?: number; megabytesPerLayer?: number }): Promise<PullBenchResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-pull-"));
  const reg = await startRegistry();
  let agent: ChildProcess | undefined;
  try {
    const content = new ContentStore(join(work, "seed"));
    const layers = [];
    let imageBytes = 0;
    for (let i = 0; i < (opts.layers ?? 5); i++) {
      const dir = join(work, `layer${i}`);
      const files = layerFiles(dir, opts.megabytesPerLayer ?? 40);
      imageBytes += files.length * 1024 * 1024;
      layers.push(await storeTarAsLayer(content, Readable.from(tar.c({ cwd: dir, portable: true }, files))));
      rmSync(dir, { recursive: true, force: true });
    }
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) } }),
    );
    const configDigest = await content.put(config);
    const manifest = dockerManifest({ digest: configDigest, size: config.length }, layers);
    const client = new RegistryClient();
    const repo = { domain: reg.domain, path: "bench/big" };
    for (const b of [...layers, { digest: configDigest, size: config.length }]) await client.pushBlob(repo, b, content);
    await client.putManifest(repo, "v1", manifest, MediaType.dockerManifest);
    rmSync(join(work, "seed"), { recursive: true, force: true });

    // Berth pulls in its own process, bundled as the agent ships, not through this one's TypeScript loader.
    const bundle = join(work, "pull-agent.cjs");
    await bundleAgentEntry(join(repoRoot, "bench/support/pull-agent.ts"), bundle);
    agent = fork(bundle, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    await reply(agent);
    const berth: number[] = [];
    const peer: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      // Alternate who goes first so page-cache warmth favours neither.
      const order = r % 2 === 0 ? ["berth", "peer"] : ["peer", "berth"];
      for (const who of order) {
        const dir = join(work, `round-${r}-${who}`);
        const t0 = performance.now();
        if (who === "berth") {
          agent.send({ op: "pull", stateDir: dir, reference: `${reg.domain}/bench/big:v1` });
          await reply(agent);
          berth.push((performance.now() - t0) / 1000);
        } else {
          mkdirSync(dir, { recursive: true });
          await run("skopeo", [
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            `docker://${reg.domain}/bench/big:v1`,
            `oci:${join(dir, "oci")}:v1`,
          ]);
          await run("umoci", ["unpack", "--image", `${join(dir, "oci")}:v1`, join(dir, "bundle")]);
          peer.push((performance.now() - t0) / 1000);
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const b = median(berth);
    const p = median(peer);
    return {
      imageBytes,
      compressedBytes: layers.reduce((a, l) => a + l.size, 0),
      rounds: opts.rounds,
      berthSeconds: b,
      skopeoUmociSeconds: p,
      speedup: p / b,
    };
  } finally {
    agent?.kill("SIGKILL");
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
