import "reflect-metadata"; // @peculiar/x509's dependency injection needs it, before it loads
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

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
  const cx = new X509Certificate(cert);
  const fingerprint = cx.fingerprint256.replace(/:/g, "").toLowerCase();
  const spki = cx.publicKey.export({ type: "spki", format: "der" });
  return { cert, key, fingerprint, spkiPin: createHash("sha256").update(spki).digest("base64") };
}

/** Addresses only this machine reaches: serving there needs no TLS. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

/**
 * The control plane's own certificate, for when it serves off loopback and was given none: made
 * once (ECDSA P-256, ten years, self-signed, the names it is reached by as subject alternative
 * names) and kept 0600 in `<dir>/tls`, so its fingerprint, which join tokens carry and agents pin,
 * stays the same across restarts, as a Swarm manager's does.
 */
export async function ensureSelfSignedIdentity(
  dir: string,
  names: string[],
): Promise<{ certFile: string; keyFile: string; created: boolean }> {
  const tlsDir = join(dir, "tls");
  const certFile = join(tlsDir, "cert.pem");
  const keyFile = join(tlsDir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  // Node's global WebCrypto (the DOM's Crypto type, which the library expects).
  const webcrypto = globalThis.crypto;
  x509.cryptoProvider.set(webcrypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const unique = [...new Set(["localhost", "127.0.0.1", ...names.map((n) => n.replace(/^\[|\]$/g, ""))])].filter(
    (n) => n && n !== "0.0.0.0" && n !== "::",
  );
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString("hex")
      .replace(/^[89a-f]/, "7"),
    name: "CN=Berth control plane",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3650 * 24 * 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        unique.map((n) => (isIP(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })),
      ),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  // Written aside and renamed, key first: a crash never leaves a certificate without its key.
  writeFileSync(`${keyFile}.new`, keyPem, { mode: 0o600 });
  writeFileSync(`${certFile}.new`, `${cert.toString("pem")}\n`, { mode: 0o600 });
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
  return { certFile, keyFile, created: true };
}
