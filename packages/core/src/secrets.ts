import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A random lower-case base36-ish secret (a-z0-9) of `bytes` entropy bytes. */
export function randomSecret(bytes = 24): string {
  // hex is a subset of [a-z0-9], which is what the join token grammar accepts.
  return randomBytes(bytes).toString("hex");
}

/**
 * Secrets here are 192+ bits of randomness, so a plain sha256 is the right hash: a slow KDF
 * protects low-entropy passwords, which these are not.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
