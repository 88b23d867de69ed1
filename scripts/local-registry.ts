// The default private registry of `npm start`: Debian's docker-registry on 127.0.0.1:5000
// (REGISTRY_PORT overrides), data in .berth/registry. Seeded with busybox as a Docker Hub
// mirror path (library/busybox), so `busybox:latest` pulls with no internet.
import { spawn, type ChildProcess } from "node:child_process";
import { hasExited, stopChild } from "./child-process.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ContentStore } from "../apps/agent/src/content/store.ts";
import { RegistryClient } from "../apps/agent/src/registry/client.ts";
import { buildBusyboxImage, pushBuiltImage, type BuiltImage } from "../apps/agent/src/images/seed.ts";
import { dataDir } from "./paths.ts";

export interface LocalRegistry {
  url: string;
  /** Null when an already-running registry on the port was reused. */
  proc: ChildProcess | null;
  stop(): Promise<void>;
}

async function answering(url: string): Promise<boolean> {
  return fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.status === 200 || r.status === 401,
    () => false,
  );
}

export interface ServedRegistry {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs docker-registry on 127.0.0.1:`port` with its data under `dir`, and waits until it answers.
 * `authYaml` is an optional `auth:` section (htpasswd or token) for tests.
 */
export async function serveRegistry(opts: {
  dir: string;
  port: number;
  host?: string;
  logLevel?: string;
  authYaml?: string;
}): Promise<ServedRegistry> {
  const address = opts.host ?? "127.0.0.1";
  const url = `http://${address}:${opts.port}`;
  mkdirSync(join(opts.dir, "data"), { recursive: true });
  const config = join(opts.dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: ${opts.logLevel ?? "warn"}\n  accesslog:\n    disabled: true\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${join(opts.dir, "data")}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: ${address}:${opts.port}\n${opts.authYaml ?? ""}`,
  );
  const proc = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err = (err + d).slice(-5000)));
  const stop = () => stopChild(proc);
  const deadline = Date.now() + 15_000;
  while (!(await answering(url))) {
    if (hasExited(proc) || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on ${url}${err ? `: ${err.trim()}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, proc, stop };
}

export async function startLocalRegistry(port = Number(process.env.REGISTRY_PORT ?? 5000)): Promise<LocalRegistry> {
  const url = `http://127.0.0.1:${port}`;
  if (await answering(url)) return { url, proc: null, stop: async () => {} };
  try {
    return await serveRegistry({ dir: join(dataDir, "registry"), port });
  } catch (e) {
    throw new Error(`${(e as Error).message} (is the port taken? set REGISTRY_PORT)`);
  }
}

/** Pushes busybox as <registry>/library/busybox:latest (idempotent: same package, same digest). */
export async function seedBusybox(registryHost: string, contentDir = join(dataDir, "seed-content")): Promise<BuiltImage> {
  const content = new ContentStore(contentDir);
  const img = await buildBusyboxImage(content);
  // Our registries are plain HTTP, also when a test serves one on a lab address rather than loopback.
  await pushBuiltImage(
    new RegistryClient({ settingsFor: (d) => (d === registryHost ? { insecure: true } : {}) }),
    content,
    img,
    `${registryHost}/library/busybox:latest`,
  );
  return img;
}
