// The default private registry of `npm start`: Debian's docker-registry on 127.0.0.1:5000
// (REGISTRY_PORT overrides), data in .berth/registry. Seeded with busybox as a Docker Hub
// mirror path (library/busybox), so `busybox:latest` pulls with no internet.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ContentStore } from "../apps/agent/src/content/store.ts";
import { RegistryClient } from "../apps/agent/src/registry/client.ts";
import { buildBusyboxImage, pushBuiltImage } from "../apps/agent/src/images/seed.ts";
import { dataDir } from "./paths.ts";

export interface LocalRegistry {
  url: string;
  /** Null when an already-running registry on the port was reused. */
  proc: ChildProcess | null;
  stop(): Promise<void>;
}

async function answering(url: string): Promise<boolean> {
  return fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200 || r.status === 401, () => false);
}

export async function startLocalRegistry(port = Number(process.env.REGISTRY_PORT ?? 5000)): Promise<LocalRegistry> {
  const url = `http://127.0.0.1:${port}`;
  if (await answering(url)) return { url, proc: null, stop: async () => {} };
  const dir = join(dataDir, "registry");
  mkdirSync(join(dir, "data"), { recursive: true });
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const proc = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "inherit"] });
  const deadline = Date.now() + 15_000;
  while (!(await answering(url))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill();
      throw new Error(`the local registry did not start on ${url} (is the port taken? set REGISTRY_PORT)`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
    },
  };
}

/** Pushes busybox as <registry>/library/busybox:latest (idempotent: same package, same digest). */
export async function seedBusybox(registryUrl: string): Promise<string> {
  const content = new ContentStore(join(dataDir, "seed-content"));
  const img = await buildBusyboxImage(content);
  const host = new URL(registryUrl).host;
  return pushBuiltImage(new RegistryClient(), content, img, `${host}/library/busybox:latest`);
}
