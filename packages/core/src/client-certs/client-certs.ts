import "reflect-metadata"; // @peculiar/x509's dependency injection needs it, before it loads
import { X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Db } from "@berth/db";
import { conflict, isUniqueViolation, notFound } from "../errors.ts";
import type { SecretBox } from "../secret-box.ts";

/*
 * Client certificates for the fleet Docker endpoint, which Berth issues per user (as Docker's
 * own TLS guide has an admin do with openssl): a certificate authority of the install's signs
 * them; the endpoint asks for a client certificate, and takes one this authority signed, that is
 * recorded here, unexpired and not revoked, as its user. The private key is made for the user
 * and handed over once; Berth keeps only the certificate's fingerprint.
 */

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 24 * 3600_000;
/** How long an issued certificate is valid: a year, as Docker's guide suggests for client certs. */
export const CLIENT_CERT_DAYS = 365;

export interface IssuedCertificate {
  id: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  notAfter: Date;
}

export interface ClientCertView {
  id: string;
  fingerprint: string;
  notAfter: Date;
  revokedAt: Date | null;
  createdAt: Date;
}

function pemKey(pkcs8: ArrayBuffer): string {
  const b64 = Buffer.from(pkcs8).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

const serial = () =>
  Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "7");

export function fingerprintOf(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();
}

export class ClientCertificates {
  private ca: Promise<{ certPem: string; cert: x509.X509Certificate; key: CryptoKey }> | null = null;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {
    x509.cryptoProvider.set(globalThis.crypto);
  }

  /** The install's authority: read, or made once (the first process to write it wins; others read it). */
  authority(): Promise<{ certPem: string; cert: x509.X509Certificate; key: CryptoKey }> {
    this.ca ??= this.loadOrCreate().catch((e) => {
      this.ca = null;
      throw e;
    });
    return this.ca;
  }

  /** The authority's certificate, for the endpoint's TLS server (the clients it accepts). */
  async caPem(): Promise<string> {
    return (await this.authority()).certPem;
  }

  private async loadOrCreate() {
    let row = await this.db.clientCertAuthority.findUnique({ where: { id: 1 } });
    if (!row) {
      const keys = (await globalThis.crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: "CN=Berth client certificate authority",
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3650 * DAY),
        signingAlgorithm: ALG,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ],
      });
      const keyPem = pemKey(await globalThis.crypto.subtle.exportKey("pkcs8", keys.privateKey));
      try {
        await this.db.clientCertAuthority.create({ data: { id: 1, certPem: cert.toString("pem"), keySealed: this.box.seal(keyPem) } });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e; // another process made it first: use theirs
      }
      row = await this.db.clientCertAuthority.findUniqueOrThrow({ where: { id: 1 } });
    }
    const keyDer = Buffer.from(
      this.box
        .open(row.keySealed)
        .replace(/-----[A-Z ]+-----/g, "")
        .replace(/\s/g, ""),
      "base64",
    );
    const key = await globalThis.crypto.subtle.importKey("pkcs8", keyDer, ALG, false, ["sign"]);
    return { certPem: row.certPem, cert: new x509.X509Certificate(row.certPem), key };
  }

  /** A new certificate and key for `user`, signed by the authority; the key is not kept. */
  async issue(user: { id: string; email: string }): Promise<IssuedCertificate> {
    const ca = await this.authority();
    const keys = (await globalThis.crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const notAfter = new Date(Date.now() + CLIENT_CERT_DAYS * DAY);
    const sn = serial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: sn,
      subject: `CN=${user.email.replace(/[,+="\\<>;#]/g, "_")}`,
      issuer: ca.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: ca.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    const certPem = cert.toString("pem");
    const row = await this.db.clientCertificate.create({
      data: { userId: user.id, fingerprint: fingerprintOf(certPem), serial: sn, notAfter },
    });
    const keyPem = pemKey(await globalThis.crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return { id: row.id, certPem: `${certPem}\n`, keyPem, caPem: `${ca.certPem}\n`, notAfter };
  }

  async list(userId: string): Promise<ClientCertView[]> {
    return this.db.clientCertificate.findMany({
      where: { userId },
      orderBy: { createdAt: "desc" },
      select: { id: true, fingerprint: true, notAfter: true, revokedAt: true, createdAt: true },
    });
  }

  async revoke(userId: string, id: string): Promise<void> {
    const { count } = await this.db.clientCertificate.updateMany({
      where: { id, userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) {
      const exists = await this.db.clientCertificate.findFirst({ where: { id, userId } });
      if (!exists) throw notFound("client certificate");
      throw conflict("this client certificate is already revoked");
    }
  }

  /**
   * The user a presented certificate stands for, or null: it must be one issued here (TLS has
   * checked the authority's signature and the dates), unexpired, and not revoked.
   */
  async authenticate(fingerprint: string): Promise<{ id: string; email: string; name: string } | null> {
    const row = await this.db.clientCertificate.findUnique({ where: { fingerprint }, include: { user: true } });
    if (!row || row.revokedAt || row.notAfter.getTime() < Date.now()) return null;
    return { id: row.user.id, email: row.user.email, name: row.user.name };
  }
}
