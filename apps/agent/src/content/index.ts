/** The content store's front door: blobs by digest. */
export { ContentStore, sha256Digest } from "./store.ts";
