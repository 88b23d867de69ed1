/** The registry client's front door: the distribution API, the v1 search API, references and media types. */
export { RegistryClient, RegistryError } from "./client.ts";
export type { RegistrySettings } from "./client.ts";
export type { SearchResult } from "./search.ts";
export {
  IndexSchema,
  ManifestSchema,
  MediaType,
  formatPlatform,
  hostPlatform,
  isIndexType,
  isManifestType,
  parsePlatform,
  platformMatches,
} from "./media-types.ts";
export type { Platform } from "./media-types.ts";
export { InvalidReferenceError, familiarName, formatReference, parseReference, withDefaultTag } from "./reference.ts";
export type { ImageReference } from "./reference.ts";
