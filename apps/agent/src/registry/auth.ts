// Registry authentication challenges: Basic, and Bearer tokens as Docker Hub issues them
// (realm, service, scope), cached per registry and scope until they expire.

export interface Credentials {
  username: string;
  password: string;
}

export type Challenge =
  | { scheme: "basic"; realm: string }
  | { scheme: "bearer"; realm: string; service: string | null; scope: string | null };

/** Parses one WWW-Authenticate header value. Returns null for schemes we do not speak. */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*(\w+)\s+(.*)$/.exec(header);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const params = new Map<string, string>();
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (const p of m[2]!.matchAll(re)) params.set(p[1]!.toLowerCase(), (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1"));
  if (scheme === "basic") return { scheme: "basic", realm: params.get("realm") ?? "" };
  if (scheme === "bearer") {
    const realm = params.get("realm");
    if (!realm) return null;
    return { scheme: "bearer", realm, service: params.get("service") ?? null, scope: params.get("scope") ?? null };
  }
  return null;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Bearer tokens per (registry, scope). */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  get(key: string): string | null {
    const t = this.tokens.get(key);
    if (!t) return null;
    if (t.expiresAt <= Date.now()) {
      this.tokens.delete(key);
      return null;
    }
    return t.token;
  }

  set(key: string, token: string, expiresInSeconds: number): void {
    // Renew a little early so a token does not expire between check and use.
    this.tokens.set(key, { token, expiresAt: Date.now() + Math.max(10, expiresInSeconds - 10) * 1000 });
  }

  clear(key: string): void {
    this.tokens.delete(key);
  }
}
