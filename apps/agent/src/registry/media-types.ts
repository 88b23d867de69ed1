import { z } from "zod";

export const MediaType = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
} as const;

/** What we send in Accept for manifests: every type we can use, indexes included. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(
  ", ",
);

export const isIndexType = (t: string) => t === MediaType.ociIndex || t === MediaType.dockerManifestList;
export const isManifestType = (t: string) => t === MediaType.ociManifest || t === MediaType.dockerManifest;

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, "only sha256 digests are supported");

export const PlatformSchema = z.object({
  architecture: z.string().max(64),
  os: z.string().max(64),
  "os.version": z.string().max(128).optional(),
  "os.features": z.array(z.string().max(128)).max(64).optional(),
  variant: z.string().max(64).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.object({
  mediaType: z.string().max(255),
  digest: Digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).max(16).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: PlatformSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema).max(1000),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema).max(1000),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageIndex = z.infer<typeof IndexSchema>;

/** The platform this agent runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  const p: Platform = { os: "linux", architecture: arch[process.arch] ?? process.arch };
  if (process.arch === "arm64") p.variant = "v8";
  return p;
}

/** containerd's rule in short: same os and architecture; a variant must match when both name one. */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  if (want.variant && have.variant && want.variant !== have.variant) {
    // arm64 images often say v8 or nothing; treat those as the same.
    return want.architecture === "arm64" && [want.variant, have.variant].every((v) => v === "v8");
  }
  return true;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split("/");
  if (!os || !architecture) throw new Error(`invalid platform ${JSON.stringify(s)}: use os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}
