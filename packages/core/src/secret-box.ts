import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Encrypts secrets at rest (registry passwords) with AES-256-GCM. The key is derived with
 * HKDF from the control plane's secret, so it is never stored beside the data it protects.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secret: string, purpose = "berth/registry-credentials/v1") {
    if (secret.length < 32) throw new Error("the secret for SecretBox must be at least 32 characters");
    this.key = Buffer.from(hkdfSync("sha256", secret, "berth", purpose, 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const ct = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), ct.toString("base64url")].join(".");
  }

  open(sealed: string): string {
    const [v, iv, tag, ct] = sealed.split(".");
    if (v !== "v1" || !iv || !tag || ct === undefined) throw new Error("sealed secret has an unknown format");
    const d = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    d.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([d.update(Buffer.from(ct, "base64url")), d.final()]).toString("utf8");
  }
}
