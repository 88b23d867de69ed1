// OCI Distribution client (undici): manifests and indexes with platform selection, verified blob
// downloads with retries and Range resume, and pushes (HEAD, monolithic or chunked upload,
// cross-repository mount, manifest PUT). Anonymous, Basic and Bearer-token auth.
import { request, type Dispatcher } from "undici";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sha256Digest, type ContentStore } from "../content/index.ts";
import { basicHeader, parseChallenge, TokenCache, type Credentials } from "./auth.ts";
import {
  IndexSchema,
  ManifestSchema,
  MANIFEST_ACCEPT,
  isIndexType,
  isManifestType,
  platformMatches,
  formatPlatform,
  hostPlatform,
  type Descriptor,
  type ImageIndex,
  type Manifest,
  type Platform,
} from "./media-types.ts";
import { isLoopbackRegistry, registryHost, type ImageReference } from "./reference.ts";
import { HUB_INDEX, MAX_SEARCH_BYTES, parseSearchResponse, type SearchResult } from "./search.ts";
import { AgentError } from "../errors.ts";

export interface RegistrySettings {
  /** Plain HTTP. Loopback registries are plain HTTP by default, as in Docker. */
  insecure?: boolean;
  credentials?: Credentials | null;
}

export type Repo = Pick<ImageReference, "domain" | "path">;

/** A registry refused or failed a request; the status and the registry's own code say how. */
export class RegistryError extends AgentError {
  override name = "RegistryError";
  constructor(
    message: string,
    readonly status: number,
    /** The registry's error code, e.g. MANIFEST_UNKNOWN, or NETWORK. */
    readonly registryCode: string,
  ) {
    super(message, status === 404 ? "NOT_FOUND" : "REGISTRY");
  }
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface ResolvedImage {
  /** The digest the reference named or resolved to (an index's, for multi-platform images). */
  digest: string;
  manifestDigest: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  manifestMediaType: string;
  index: { digest: string; bytes: Buffer; mediaType: string; parsed: ImageIndex } | null;
}

export interface RegistryClientOptions {
  settingsFor?: (domain: string) => RegistrySettings;
  dispatcher?: Dispatcher;
  /** Attempts per request on network errors and 5xx/429. */
  attempts?: number;
  /** Pull-through mirrors for Docker Hub (dockerd's registry-mirrors), tried before docker.io. */
  mirrors?: string[];
  userAgent?: string;
}

type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH";

interface Req {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable | null;
  /** Body can be sent again (not a one-shot stream), so auth and retries may repeat it. */
  replayable?: boolean;
}

const MAX_REDIRECTS = 5;
/** Bodies read whole are read only up to these sizes: a registry (or what claims to be one) cannot fill the agent's memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

/**
 * Reads a response body up to `max` bytes. Past it the connection is dropped and the answer is
 * null, or with `truncate` the first `max` bytes.
 */
export async function readCapped(body: Dispatcher.ResponseData["body"], max: number, truncate = false): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (size + b.length > max) {
      body.destroy();
      if (!truncate) return null;
      chunks.push(b.subarray(0, max - size));
      return Buffer.concat(chunks);
    }
    chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks);
}

export class RegistryClient {
  private readonly tokens = new TokenCache();
  /** Registries that asked for Basic auth: later requests send it up front (a streamed body cannot be re-sent). */
  private readonly basicDomains = new Set<string>();
  private readonly opts: Required<Omit<RegistryClientOptions, "dispatcher">> & { dispatcher?: Dispatcher };

  constructor(opts: RegistryClientOptions = {}) {
    this.opts = {
      settingsFor: opts.settingsFor ?? (() => ({})),
      attempts: opts.attempts ?? 4,
      userAgent: opts.userAgent ?? "berth-agent",
      mirrors: (opts.mirrors ?? []).map((m) => m.replace(/\/+$/, "")),
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    };
  }

  private settings(domain: string): RegistrySettings {
    const mirror = this.opts.mirrors.find((m) => new URL(m).host === domain);
    // A mirror's scheme is how it was configured; its credentials come from settingsFor as usual.
    if (mirror) return { insecure: mirror.startsWith("http:"), ...this.opts.settingsFor(domain) };
    return this.opts.settingsFor(domain);
  }

  private base(domain: string): string {
    const s = this.settings(domain);
    const insecure = s.insecure ?? isLoopbackRegistry(domain);
    return `${insecure ? "http" : "https"}://${registryHost(domain)}`;
  }

  repoUrl(repo: Repo, suffix: string): string {
    return `${this.base(repo.domain)}/v2/${repo.path}/${suffix}`;
  }

  /**
   * Docker Hub references go to a mirror first, as dockerd does: the mirror's host is then the
   * repository's domain (same path, e.g. library/busybox). Blobs are content-addressed, so
   * whichever endpoint has them serves them.
   */
  private async viaMirrors<T>(repo: Repo, fn: (r: Repo) => Promise<T>): Promise<T> {
    if (repo.domain !== "docker.io" || this.opts.mirrors.length === 0) return fn(repo);
    for (const m of this.opts.mirrors) {
      try {
        return await fn({ domain: new URL(m).host, path: repo.path });
      } catch {
        // not on this mirror (or it is down): try the next, then Docker Hub itself
      }
    }
    return fn(repo);
  }

  /** Fetches a manifest or index by tag or digest, verifying the digest when one was named. */
  async getManifest(repo: Repo, reference: string): Promise<FetchedManifest> {
    return this.viaMirrors(repo, (r) => this.getManifestFrom(r, reference));
  }

  private async getManifestFrom(repo: Repo, reference: string): Promise<FetchedManifest> {
    const res = await this.send(repo, "pull", {
      method: "GET",
      url: this.repoUrl(repo, `manifests/${reference}`),
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.statusCode !== 200) throw await this.errorFrom(res, `manifest for ${repo.path}:${reference}`);
    const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES);
    if (bytes === null) throw new RegistryError("manifest is larger than 4 MiB", 502, "MANIFEST_INVALID");
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new RegistryError(`manifest digest mismatch: asked for ${reference}, got ${digest}`, 502, "DIGEST_INVALID");
    }
    const header = String(res.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim();
    let mediaType = header;
    try {
      const body = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
      if (typeof body.mediaType === "string") mediaType = body.mediaType;
      else if (!isIndexType(mediaType) && !isManifestType(mediaType))
        mediaType = Array.isArray(body.manifests)
          ? "application/vnd.oci.image.index.v1+json"
          : "application/vnd.oci.image.manifest.v1+json";
    } catch {
      throw new RegistryError("manifest is not JSON", 502, "MANIFEST_INVALID");
    }
    return { digest, mediaType, bytes };
  }

  /** Resolves a reference to one image manifest, choosing the platform from an index. */
  async resolve(ref: ImageReference, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
    const top = await this.getManifest(ref, ref.digest ?? ref.tag ?? "latest");
    if (isIndexType(top.mediaType)) {
      const parsed = IndexSchema.parse(JSON.parse(top.bytes.toString("utf8")));
      const match = parsed.manifests.find((m) => platformMatches(platform, m.platform));
      if (!match) {
        const have = parsed.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : "unknown")).join(", ");
        throw new RegistryError(
          `no matching manifest for ${formatPlatform(platform)} in the manifest list entries (have: ${have})`,
          404,
          "NO_PLATFORM",
        );
      }
      const inner = await this.getManifest(ref, match.digest);
      return {
        ...this.asImage(inner),
        digest: top.digest,
        index: { digest: top.digest, bytes: top.bytes, mediaType: top.mediaType, parsed },
      };
    }
    return { ...this.asImage(top), digest: top.digest, index: null };
  }

  private asImage(m: FetchedManifest): Omit<ResolvedImage, "digest" | "index"> {
    if (!isManifestType(m.mediaType)) throw new RegistryError(`unsupported manifest media type ${m.mediaType}`, 415, "UNSUPPORTED");
    const parsed = ManifestSchema.safeParse(JSON.parse(m.bytes.toString("utf8")));
    if (!parsed.success) throw new RegistryError(`invalid image manifest: ${parsed.error.issues[0]?.message}`, 502, "MANIFEST_INVALID");
    return { manifestDigest: m.digest, manifest: parsed.data, manifestBytes: m.bytes, manifestMediaType: m.mediaType };
  }

  /**
   * Downloads a blob into the content store, verified against its descriptor. Network failures
   * are retried with backoff; each retry resumes with a Range request where the registry allows.
   */
  async fetchBlob(
    repo: Repo,
    desc: Pick<Descriptor, "digest" | "size">,
    store: ContentStore,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    return this.viaMirrors(repo, (r) => this.fetchBlobFrom(r, desc, store, onBytes));
  }

  private async fetchBlobFrom(
    repo: Repo,
    desc: Pick<Descriptor, "digest" | "size">,
    store: ContentStore,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      try {
        await store.ingest({ digest: desc.digest, size: desc.size }, async (offset) => {
          const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
          const res = await this.send(repo, "pull", { method: "GET", url: this.repoUrl(repo, `blobs/${desc.digest}`), headers });
          if (res.statusCode === 206) return { stream: counted(res.body, onBytes), offset };
          if (res.statusCode === 200) return { stream: counted(res.body, onBytes), offset: 0 };
          throw await this.errorFrom(res, `blob ${desc.digest}`);
        });
        return;
      } catch (e) {
        lastError = e;
        if (!isRetryable(e)) {
          await store.abort(desc.digest);
          throw e;
        }
        await sleep(200 * 2 ** attempt);
      }
    }
    throw lastError;
  }

  async hasBlob(repo: Repo, digest: string): Promise<boolean> {
    const res = await this.send(repo, "pull", { method: "HEAD", url: this.repoUrl(repo, `blobs/${digest}`) });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.errorFrom(res, `blob ${digest}`);
  }

  /**
   * Uploads a blob from the content store unless the registry has it: tries a cross-repository
   * mount first when `mountFrom` names a repository on the same registry, then uploads in one
   * PUT, or in PATCH chunks of `chunkSize` bytes.
   */
  async pushBlob(
    repo: Repo,
    desc: Pick<Descriptor, "digest" | "size">,
    store: ContentStore,
    opts: { mountFrom?: string; chunkSize?: number } = {},
  ): Promise<"exists" | "mounted" | "uploaded"> {
    if (await this.hasBlob(repo, desc.digest)) return "exists";
    const scope = opts.mountFrom ? `repository:${repo.path}:pull,push repository:${opts.mountFrom}:pull` : undefined;
    const start = new URL(this.repoUrl(repo, "blobs/uploads/"));
    if (opts.mountFrom) {
      start.searchParams.set("mount", desc.digest);
      start.searchParams.set("from", opts.mountFrom);
    }
    let res = await this.send(
      repo,
      "pull,push",
      { method: "POST", url: start.toString(), headers: { "content-length": "0" }, body: Buffer.alloc(0), replayable: true },
      scope,
    );
    if (res.statusCode === 201) {
      await res.body.dump();
      return "mounted";
    }
    if (res.statusCode !== 202) throw await this.errorFrom(res, "blob upload");
    await res.body.dump();
    let location = this.location(res, repo);

    if (opts.chunkSize && desc.size > opts.chunkSize) {
      const data = await store.read(desc.digest);
      for (let off = 0; off < data.length; off += opts.chunkSize) {
        const chunk = data.subarray(off, Math.min(data.length, off + opts.chunkSize));
        res = await this.send(repo, "pull,push", {
          method: "PATCH",
          url: location,
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${off}-${off + chunk.length - 1}`,
            "content-length": String(chunk.length),
          },
          body: chunk,
          replayable: true,
        });
        if (res.statusCode !== 202) throw await this.errorFrom(res, "blob chunk upload");
        await res.body.dump();
        location = this.location(res, repo);
      }
      const done = withQuery(location, "digest", desc.digest);
      res = await this.send(repo, "pull,push", {
        method: "PUT",
        url: done,
        headers: { "content-length": "0" },
        body: Buffer.alloc(0),
        replayable: true,
      });
    } else {
      const done = withQuery(location, "digest", desc.digest);
      res = await this.send(repo, "pull,push", {
        method: "PUT",
        url: done,
        headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
        body: store.readStream(desc.digest),
      });
    }
    if (res.statusCode !== 201) throw await this.errorFrom(res, "blob upload");
    await res.body.dump();
    return "uploaded";
  }

  async putManifest(repo: Repo, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.send(repo, "pull,push", {
      method: "PUT",
      url: this.repoUrl(repo, `manifests/${reference}`),
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      body: bytes,
      replayable: true,
    });
    if (res.statusCode !== 201) throw await this.errorFrom(res, `manifest ${repo.path}:${reference}`);
    await res.body.dump();
    return sha256Digest(bytes);
  }

  /** Tells whether credentials work for a registry: `docker login`'s check. */
  async login(domain: string): Promise<void> {
    const res = await this.send({ domain, path: "" }, "pull", { method: "GET", url: `${this.base(domain)}/v2/` }, "");
    await res.body.dump();
    if (res.statusCode !== 200)
      throw new RegistryError(
        res.statusCode === 401 ? "unauthorized: incorrect username or password" : `registry answered ${res.statusCode}`,
        res.statusCode,
        "UNAUTHORIZED",
      );
  }

  /**
   * `docker search`: one page of the registry's v1 search API, as dockerd asks it (Docker Hub at
   * its index, not through mirrors; another registry at its own host, plain HTTP when insecure or
   * on loopback). Errors carry dockerd's wording and are answered as 500s.
   */
  async search(domain: string, term: string, limit: number): Promise<SearchResult[]> {
    const base = domain === "docker.io" ? HUB_INDEX : this.base(domain);
    const url = `${base}/v1/search?q=${encodeURIComponent(term)}&n=${limit}`;
    const creds = this.settings(domain).credentials ?? null;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.raw({
        method: "GET",
        url,
        headers: { "x-docker-token": "true", ...(creds ? { authorization: basicHeader(creds) } : {}) },
      });
    } catch (e) {
      const why = `Get "${url}": ${e instanceof Error ? e.message : String(e)}`;
      if (domain === "docker.io") throw new RegistryError(why, 0, "NETWORK");
      const hint = base.startsWith("https:")
        ? ". If this private registry supports only HTTP or HTTPS with an unknown CA certificate, " +
          `please add \`--insecure-registry ${domain}\` to the daemon's arguments`
        : "";
      throw new RegistryError(`invalid registry endpoint "${base}/v1/": ${why}${hint}`, 0, "NETWORK");
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      // dockerd answers any refusal of the search as a server error, with only the status.
      throw new AgentError(`Unexpected status code ${res.statusCode}`, "REGISTRY");
    }
    const body = await readCapped(res.body, MAX_SEARCH_BYTES);
    if (body === null) throw new AgentError("error decoding registry search results: the answer is larger than 1 MiB", "REGISTRY");
    try {
      return parseSearchResponse(body);
    } catch (e) {
      throw new AgentError((e as Error).message, "REGISTRY");
    }
  }

  private location(res: Dispatcher.ResponseData, repo: Repo): string {
    const loc = res.headers.location;
    const value = Array.isArray(loc) ? loc[0] : loc;
    if (!value) throw new RegistryError("registry gave no upload location", 502, "BLOB_UPLOAD_INVALID");
    return new URL(value, this.base(repo.domain)).toString();
  }

  /**
   * One request with auth: on a 401 it answers the challenge (Basic or a Bearer token for the
   * scope) and sends again. Network errors and 5xx/429 are retried for replayable requests.
   */
  private async send(repo: Repo, actions: "pull" | "pull,push", req: Req, scopeOverride?: string): Promise<Dispatcher.ResponseData> {
    const scope = scopeOverride ?? `repository:${repo.path}:${actions}`;
    const tokenKey = `${repo.domain}|${scope}`;
    const creds = this.settings(repo.domain).credentials ?? null;
    const canReplay = req.replayable || req.body === undefined || req.body === null || Buffer.isBuffer(req.body);
    const cached = this.tokens.get(tokenKey);
    let authorization: string | null = cached
      ? `Bearer ${cached}`
      : creds && this.basicDomains.has(repo.domain)
        ? basicHeader(creds)
        : null;
    for (let attempt = 0; ; attempt++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.raw({ ...req, headers: { ...req.headers, ...(authorization ? { authorization } : {}) } });
      } catch (e) {
        if (canReplay && attempt + 1 < this.opts.attempts) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
        throw new RegistryError(`cannot reach registry ${repo.domain}: ${e instanceof Error ? e.message : String(e)}`, 0, "NETWORK");
      }
      if (res.statusCode === 401 && canReplay && attempt < 2) {
        const challenge = parseChallenge(headerValue(res.headers["www-authenticate"]) ?? "");
        await res.body.dump();
        if (!challenge) throw new RegistryError("registry asked for an authentication scheme Berth does not support", 401, "UNAUTHORIZED");
        if (challenge.scheme === "basic") {
          if (authorization?.startsWith("Basic"))
            throw new RegistryError("unauthorized: incorrect username or password", 401, "UNAUTHORIZED");
          if (!creds) throw new RegistryError(`unauthorized: authentication required for ${repo.domain}`, 401, "UNAUTHORIZED");
          authorization = basicHeader(creds);
          this.basicDomains.add(repo.domain);
        } else {
          const token = await this.fetchToken(challenge.realm, challenge.service, scopeOverride === "" ? challenge.scope : scope, creds);
          this.tokens.set(tokenKey, token.token, token.expiresIn);
          authorization = `Bearer ${token.token}`;
        }
        continue;
      }
      if ((res.statusCode >= 500 || res.statusCode === 429) && canReplay && attempt + 1 < this.opts.attempts) {
        await res.body.dump();
        await sleep(200 * 2 ** attempt);
        continue;
      }
      return res;
    }
  }

  private async fetchToken(
    realm: string,
    service: string | null,
    scope: string | null,
    creds: Credentials | null,
  ): Promise<{ token: string; expiresIn: number }> {
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of (scope ?? "").split(" ").filter(Boolean)) url.searchParams.append("scope", s);
    const res = await request(url, {
      method: "GET",
      headers: { "user-agent": this.opts.userAgent, ...(creds ? { authorization: basicHeader(creds) } : {}) },
      ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
    });
    const raw = await readCapped(res.body, MAX_TOKEN_BYTES);
    if (res.statusCode === 401 || res.statusCode === 403)
      throw new RegistryError("unauthorized: incorrect username or password", 401, "UNAUTHORIZED");
    if (raw === null) throw new RegistryError("token server answered with more than 1 MiB", 502, "TOKEN");
    const text = raw.toString("utf8");
    if (res.statusCode !== 200) throw new RegistryError(`token server answered ${res.statusCode}`, 502, "TOKEN");
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError("token server answered with non-JSON", 502, "TOKEN");
    }
    const token = typeof body.token === "string" ? body.token : typeof body.access_token === "string" ? body.access_token : null;
    if (!token) throw new RegistryError("token server gave no token", 502, "TOKEN");
    return { token, expiresIn: typeof body.expires_in === "number" ? body.expires_in : 60 };
  }

  /** Sends one request, following redirects itself so credentials never leave their origin. */
  private async raw(req: Req): Promise<Dispatcher.ResponseData> {
    let url = req.url;
    let headers = { "user-agent": this.opts.userAgent, ...req.headers };
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await request(url, {
        method: req.method,
        headers,
        body: req.body ?? null,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || (req.method !== "GET" && req.method !== "HEAD")) return res;
      await res.body.dump();
      const next = new URL(headerValue(res.headers.location) ?? "", url);
      if (next.origin !== new URL(url).origin) {
        const { authorization: _dropped, ...rest } = headers as Record<string, string>;
        headers = rest as typeof headers;
      }
      url = next.toString();
    }
    throw new RegistryError("too many redirects", 502, "REDIRECT");
  }

  private async errorFrom(res: Dispatcher.ResponseData, what: string): Promise<RegistryError> {
    // An error body is read only so far: what a registry says about an error fits in a few KiB.
    const text = ((await readCapped(res.body, MAX_ERROR_BYTES, true).catch(() => null)) ?? Buffer.alloc(0)).toString("utf8");
    let code = `HTTP_${res.statusCode}`;
    let detail = "";
    try {
      const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      const first = body.errors?.[0];
      if (first?.code) code = first.code;
      if (first?.message) detail = first.message;
    } catch {
      detail = text.slice(0, 200);
    }
    if (res.statusCode === 404)
      return new RegistryError(`${what} not found: ${code.toLowerCase().replace(/_/g, " ")}${detail ? `: ${detail}` : ""}`, 404, code);
    if (res.statusCode === 401) return new RegistryError(`unauthorized: ${detail || "authentication required"}`, 401, code);
    if (res.statusCode === 403) return new RegistryError(`denied: ${detail || "requested access to the resource is denied"}`, 403, code);
    return new RegistryError(`${what}: registry answered ${res.statusCode}${detail ? `: ${detail}` : ""}`, res.statusCode, code);
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

/** Counts bytes as they pass (a 'data' listener would switch the body to flowing mode and lose data). */
function counted(body: Readable, onBytes?: (n: number) => void): Readable {
  if (!onBytes) return body;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  // pipeline carries a body error (a reset mid-download) into the counter, and so to the reader.
  pipeline(body, counter).catch(() => {});
  return counter;
}

function isRetryable(e: unknown): boolean {
  if (e instanceof RegistryError) return e.registryCode === "NETWORK" || e.status >= 500 || e.status === 429;
  // Stream errors mid-download (reset, premature close) are worth a resumed retry; content
  // mismatches are not.
  return (
    e instanceof Error &&
    !/mismatch|larger than|malformed digest/.test(e.message) &&
    e.name !== "DigestMismatchError" &&
    e.name !== "SizeMismatchError"
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
