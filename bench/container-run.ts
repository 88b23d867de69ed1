// Figure: `run --rm busybox true` latency. Berth (create → start → wait → remove through the
// agent's container service, runc under conmon), bare `runc run` on a ready bundle, and
// `podman run --rm` (Debian podman, configured as ARCHITECTURE.md says), in the same run.
import { execFile } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import * as tar from "tar";
import { busyboxRootfs } from "../apps/agent/src/images/busybox-rootfs.ts";
import { buildSpec } from "../apps/agent/src/runtime/spec.ts";
import { busyboxRuntime } from "@berth/test-support/busybox-runtime";
import { removeCgroupParent } from "@berth/test-support/cgroups";
import { median } from "./stats.ts";
import { writePodmanConf } from "./support/podman-conf.ts";

const run = promisify(execFile);

export interface RunBenchResult {
  rounds: number;
  berthMs: number;
  runcMs: number;
  podmanMs: number | null;
  podmanError?: string;
}

export async function containerRunBench(opts: { rounds: number }): Promise<RunBenchResult> {
  const work = mkdtempSync(join(tmpdir(), "berth-bench-run-"));
  const cgroupParent = `/berth-bench-${process.pid}`;
  const { rt } = await busyboxRuntime({ stateDir: join(work, "agent"), cgroupParent });
  try {
    // Bare runc: a bundle with the same rootfs and the spec Berth would generate.
    const bundle = join(work, "bundle");
    mkdirSync(join(bundle, "rootfs"), { recursive: true });
    const rootfs = await busyboxRootfs();
    // Our own reproducible rootfs: its applet symlinks are absolute (/bin/busybox), so keep them as they are.
    await pipeline(rootfs.tar, tar.x({ cwd: join(bundle, "rootfs"), preservePaths: true }));
    await rootfs.cleanup();
    const runcRoot = join(work, "runc");

    // podman: its own storage and config under the work dir, the image loaded from our docker-archive.
    const podmanDir = join(work, "podman");
    mkdirSync(podmanDir, { recursive: true });
    const conf = writePodmanConf(podmanDir);
    const podman = (args: string[]) =>
      run("podman", ["--root", join(podmanDir, "root"), "--runroot", join(podmanDir, "run"), "--storage-driver", "overlay", ...args], {
        env: { ...process.env, CONTAINERS_CONF: conf },
        maxBuffer: 16 << 20,
      });
    let podmanError: string | undefined;
    const img = rt.images.resolve("busybox");
    try {
      const archive = join(work, "busybox.tar");
      await pipeline(await rt.images.save(["busybox"]), createWriteStream(archive));
      await podman(["load", "-q", "-i", archive]);
    } catch (e) {
      podmanError = e instanceof Error ? e.message.split("\n")[0] : String(e);
    }
    const podmanImage = img.id.slice(7);

    const berthOnce = async () => {
      const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["true"] });
      await rt.containers.start(Id);
      await rt.containers.wait(Id);
      await rt.containers.remove(Id);
    };
    let n = 0;
    const runcOnce = async () => {
      const id = `bench-${process.pid}-${n++}`;
      const spec = buildSpec({
        args: ["true"],
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        cwd: "/",
        user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
        hostname: id.slice(0, 12),
        tty: false,
        host: {},
        cgroupsPath: `${cgroupParent}-runc/${id}`,
        network: "private",
        mounts: [],
        nofileHard: 20000,
      });
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      await run("runc", ["--root", runcRoot, "run", "--bundle", bundle, id]);
    };
    const podmanOnce = () => podman(["run", "--rm", "--pull", "never", "--network", "none", podmanImage, "true"]);

    const time = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    // Warm-up: page cache, binaries, first-use setup of each tool.
    await berthOnce();
    await runcOnce();
    if (!podmanError) await podmanOnce().catch((e: unknown) => (podmanError = e instanceof Error ? e.message.split("\n")[0] : String(e)));

    const berth: number[] = [];
    const runc: number[] = [];
    const pod: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      berth.push(await time(berthOnce));
      runc.push(await time(runcOnce));
      if (!podmanError) pod.push(await time(podmanOnce));
    }
    return {
      rounds: opts.rounds,
      berthMs: median(berth),
      runcMs: median(runc),
      podmanMs: pod.length ? median(pod) : null,
      ...(podmanError ? { podmanError } : {}),
    };
  } finally {
    for (const r of rt.containers.store.all()) await rt.containers.remove(r.id, { force: true }).catch(() => undefined);
    await rt.containers.close();
    removeCgroupParent(cgroupParent);
    removeCgroupParent(`${cgroupParent}-runc`);
    rmSync(work, { recursive: true, force: true });
  }
}
