import type { ContentStore } from "../content/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { familiarName, formatReference, parseReference, withDefaultTag } from "../registry/index.ts";
import { ImageError, noSuchImage } from "./errors.ts";
import type { ImageStore } from "./image-store.ts";

export type PushProgress = { id: string; status: "Preparing" | "Pushing" | "Pushed" | "Layer already exists" | "Mounted" };

/**
 * `docker push NAME[:TAG]`: uploads the blobs the registry lacks (mounting from another
 * repository of the same registry when we pulled the image from there), then the manifest.
 */
export async function pushImage(
  deps: { content: ContentStore; registry: RegistryClient; images: ImageStore },
  name: string,
  onProgress: (p: PushProgress) => void = () => {},
): Promise<{ digest: string; size: number; tag: string }> {
  const ref = withDefaultTag(parseReference(name));
  if (ref.digest) throw new ImageError("cannot push a digest reference", "INVALID");
  const tag = formatReference(ref);
  const img = deps.images.find(tag);
  if (!img) throw noSuchImage(tag);
  const manifest = await deps.content.read(img.manifestDigest);
  // A repository on the same registry that already has this image: blobs can be mounted from it.
  const sibling = img.repoDigests.map((d) => parseReference(d)).find((r) => r.domain === ref.domain && r.path !== ref.path);
  const blobs = [
    ...img.layers.map((l) => ({ digest: l.digest, size: l.size })),
    { digest: img.id, size: (await deps.content.size(img.id)) ?? 0 },
  ];
  for (const b of blobs) onProgress({ id: b.digest.slice(7, 19), status: "Preparing" });
  for (const b of blobs) {
    onProgress({ id: b.digest.slice(7, 19), status: "Pushing" });
    const how = await deps.registry.pushBlob(ref, b, deps.content, sibling ? { mountFrom: sibling.path } : {}).catch((e: unknown) => {
      throw new ImageError(e instanceof Error ? e.message : String(e), "REGISTRY");
    });
    onProgress({ id: b.digest.slice(7, 19), status: how === "exists" ? "Layer already exists" : how === "mounted" ? "Mounted" : "Pushed" });
  }
  const digest = await deps.registry.putManifest(ref, ref.tag!, manifest, img.manifestMediaType).catch((e: unknown) => {
    throw new ImageError(e instanceof Error ? e.message : String(e), "REGISTRY");
  });
  deps.images.addRepoDigest(img.id, `${familiarName(ref)}@${digest}`);
  return { digest, size: manifest.length, tag: ref.tag! };
}
