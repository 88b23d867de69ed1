// A runtime with the busybox image imported as `busybox:latest`, for container tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busyboxRootfs } from "../../../apps/agent/src/images/busybox-rootfs.ts";
import { createRuntime, type AgentRuntime, type RuntimeOptions } from "../../../apps/agent/src/runtime.ts";
import { removeCgroupParent } from "./cgroups.ts";

export async function importBusybox(rt: AgentRuntime): Promise<void> {
  const rootfs = await busyboxRootfs();
  try {
    const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    await rt.images.import(rootfs.tar, { reference: "busybox:latest", changes: ['CMD ["sh"]', `ENV ${path}`] });
  } finally {
    await rootfs.cleanup();
  }
}

export async function busyboxRuntime(opts: RuntimeOptions & { stateDir?: string } = {}): Promise<{ rt: AgentRuntime; stateDir: string }> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), "berth-ctr-"));
  const rt = createRuntime(stateDir, { cgroupParent: `/berth-test-${process.pid}`, ...opts });
  await importBusybox(rt);
  await rt.containers.init();
  rt.health.start();
  return { rt, stateDir };
}

/** Ends a test file's runtime: stops health checks, removes its containers, its state and its cgroups. */
export async function disposeRuntime(rt: AgentRuntime, stateDir: string, cgroupParent = `berth-test-${process.pid}`): Promise<void> {
  rt.health.stop();
  for (const r of rt.containers.store.all()) await rt.containers.remove(r.id, { force: true }).catch(() => undefined);
  await rt.containers.close();
  rmSync(stateDir, { recursive: true, force: true });
  removeCgroupParent(cgroupParent);
}
