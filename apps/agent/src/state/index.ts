/** The agent's own files: atomic writes and the stored credential. */
export { writeFileAtomic } from "./atomic-file.ts";
export { loadCredential, saveCredential } from "./credential-store.ts";
export type { LinkCredential } from "./credential-store.ts";
