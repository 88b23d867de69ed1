import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./atomic-file.ts";

/** What `berth-agent join` leaves in the state dir for `berth-agent run`. */
export const LinkCredentialSchema = z.object({
  url: z.url(),
  /** Every address of the control plane (its replicas), `url` among them; the link goes round them. */
  urls: z.array(z.url()).min(1).max(16).optional(),
  hostId: z.string().min(1),
  name: z.string().min(1),
  credential: z.string().min(1),
  /** Pinned sha256 of the control plane's TLS certificate, or null for plain HTTP. */
  fingerprint: z
    .string()
    .regex(/^[a-f0-9]{64}$/)
    .nullable(),
});
export type LinkCredential = z.infer<typeof LinkCredentialSchema>;

const FILE = "credential.json";

export function credentialPath(stateDir: string): string {
  return join(stateDir, FILE);
}

export function loadCredential(stateDir: string): LinkCredential | null {
  const p = credentialPath(stateDir);
  if (!existsSync(p)) return null;
  const parsed = LinkCredentialSchema.safeParse(JSON.parse(readFileSync(p, "utf8")));
  if (!parsed.success) throw new Error(`${p} is not a valid credential file: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function saveCredential(stateDir: string, cred: LinkCredential): void {
  writeFileAtomic(credentialPath(stateDir), `${JSON.stringify(cred, null, 2)}\n`, 0o600);
}
