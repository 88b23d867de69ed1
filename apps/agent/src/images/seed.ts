// Builds the busybox base image into a content store and pushes it, without unpacking: what
// `npm start` seeds its local registry with, and what tests push to theirs.
import type { ContentStore } from "../content/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { hostPlatform, MediaType } from "../registry/index.ts";
import { parseReference, withDefaultTag } from "../registry/index.ts";
import { busyboxRootfs } from "./busybox-rootfs.ts";
import type { ImageConfig } from "./config.ts";
import { dockerManifest, storeTarAsLayer } from "./new-layer.ts";

export interface BuiltImage {
  manifest: Buffer;
  manifestDigest: string;
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number; diffId: string }>;
}

export async function buildBusyboxImage(content: ContentStore): Promise<BuiltImage> {
  const rootfs = await busyboxRootfs();
  try {
    const layer = await storeTarAsLayer(content, rootfs.tar);
    const p = hostPlatform();
    const created = rootfs.created.toISOString();
    const config: ImageConfig = {
      created,
      architecture: p.architecture,
      os: p.os,
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [
        { created, created_by: "berth: busybox-static rootfs" },
        { created, created_by: 'CMD ["sh"]', empty_layer: true },
      ],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await content.put(configBytes);
    const manifest = dockerManifest({ digest: configDigest, size: configBytes.length }, [layer]);
    return {
      manifest,
      manifestDigest: await content.put(manifest),
      config: { digest: configDigest, size: configBytes.length },
      layers: [layer],
    };
  } finally {
    await rootfs.cleanup();
  }
}

/** Pushes a built image under `reference` (e.g. 127.0.0.1:5000/busybox:latest). */
export async function pushBuiltImage(registry: RegistryClient, content: ContentStore, img: BuiltImage, reference: string): Promise<string> {
  const ref = withDefaultTag(parseReference(reference));
  for (const b of [...img.layers, img.config]) await registry.pushBlob(ref, b, content);
  return registry.putManifest(ref, ref.tag!, img.manifest, MediaType.dockerManifest);
}
