import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

export interface TlsIdentity {
  cert: Buffer;
  key: Buffer;
  /** sha256 of the certificate (DER), lower-case hex: what join tokens carry and agents pin. */
  fingerprint: string;
  /** sha256 of the public key (SPKI, DER), base64: what `curl --pinnedpubkey sha256//…` checks. */
  spkiPin: string;
}

export function loadTlsIdentity(certFile: string, keyFile: string): TlsIdentity {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const x509 = new X509Certificate(cert);
  const fingerprint = x509.fingerprint256.replace(/:/g, "").toLowerCase();
  const spki = x509.publicKey.export({ type: "spki", format: "der" });
  return { cert, key, fingerprint, spkiPin: createHash("sha256").update(spki).digest("base64") };
}
