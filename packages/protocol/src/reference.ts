// Image references, parsed the way Docker's distribution/reference does: default registry
// docker.io, `library/` for official images, tags, digests, and the same rejections.

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

export class InvalidReferenceError extends Error {
  override name = "InvalidReferenceError";
}

export interface ImageReference {
  /** Registry host (and port), e.g. docker.io, 127.0.0.1:5000. */
  domain: string;
  /** Repository path within the registry, e.g. library/busybox. */
  path: string;
  tag: string | null;
  digest: string | null;
}

/**
 * Parses a reference as the docker CLI does (`ParseNormalizedNamed`). A reference with neither
 * tag nor digest gets no tag here; use withDefaultTag for `latest`.
 */
export function parseReference(input: string): ImageReference {
  const s = input;
  if (s.length === 0) throw new InvalidReferenceError("invalid reference format: repository name must have at least one component");
  if (s !== s.trim()) throw new InvalidReferenceError("invalid reference format");
  let rest = s;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError("invalid reference format: invalid digest");
    if (digest.startsWith("sha256:") && !SHA256.test(digest)) throw new InvalidReferenceError("invalid checksum digest format");
  }
  let tag: string | null = null;
  // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReferenceError("invalid reference format");
  }
  const { domain, path } = splitDomain(rest);
  if (!DOMAIN.test(domain)) throw new InvalidReferenceError("invalid reference format");
  const components = path.split("/");
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) {
      if (c.toLowerCase() !== c && PATH_COMPONENT.test(c.toLowerCase())) {
        throw new InvalidReferenceError(`invalid reference format: repository name (${path}) must be lowercase`);
      }
      throw new InvalidReferenceError("invalid reference format");
    }
  }
  const nameLength = domain === DEFAULT_DOMAIN ? path.length : domain.length + 1 + path.length;
  if (nameLength > NAME_TOTAL_LENGTH_MAX)
    throw new InvalidReferenceError(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  return { domain, path, tag, digest };
}

/** Docker's splitDockerDomain: the first component is a registry only if it looks like a host. */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf("/");
  let domain: string;
  let path: string;
  if (
    i === -1 ||
    (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== "localhost" && name.slice(0, i).toLowerCase() === name.slice(0, i))
  ) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = name.slice(0, i);
    path = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === null && ref.digest === null ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** The full repository name: docker.io/library/busybox, 127.0.0.1:5000/app. */
export function repositoryName(ref: Pick<ImageReference, "domain" | "path">): string {
  return `${ref.domain}/${ref.path}`;
}

/** Docker's familiar form: busybox:latest, not docker.io/library/busybox:latest. */
export function familiarName(ref: Pick<ImageReference, "domain" | "path">): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

export function formatReference(ref: ImageReference, familiar = true): string {
  const name = familiar ? familiarName(ref) : repositoryName(ref);
  return `${name}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The host the HTTP API lives on: Docker Hub's is registry-1.docker.io. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? "registry-1.docker.io" : domain;
}

/** As in Docker, registries on loopback are plain HTTP unless configured otherwise. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.startsWith("[") ? domain.slice(1, domain.indexOf("]")) : domain.split(":")[0]!;
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
