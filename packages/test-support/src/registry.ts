// A real registry for tests: Debian's docker-registry (distribution 2.8) on a loopback port,
// anonymous, with htpasswd basic auth, or with Bearer tokens from a small token server of ours.
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createSign, randomUUID, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";
import type { BuiltImage } from "../../../apps/agent/src/images/seed.ts";
import { seedBusybox as seedRegistry, serveRegistry, type ServedRegistry } from "../../../scripts/local-registry.ts";

export interface TestRegistry {
  domain: string;
  url: string;
  dir: string;
  /** Requests the token server saw (scope strings), for assertions. */
  tokenRequests: string[];
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: { kind: "htpasswd" | "token"; username: string; password: string };
  /** Listen on this address instead of loopback (a lab address, for agents in lab namespaces). */
  host?: string;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "berth-registry-"));
  const port = await freeLoopbackPort();
  const tokenRequests: string[] = [];
  let tokenServer: Server | null = null;
  let authYaml = "";
  if (opts.auth?.kind === "htpasswd") {
    writeFileSync(join(dir, "htpasswd"), `${opts.auth.username}:${bcrypt.hashSync(opts.auth.password, 10)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, "htpasswd")}\n`;
  } else if (opts.auth?.kind === "token") {
    const tokenPort = await freeLoopbackPort();
    const key = join(dir, "token.key");
    const cert = join(dir, "token.crt");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=berth-test-token",
        "-keyout",
        key,
        "-out",
        cert,
      ],
      { stdio: "ignore" },
    );
    tokenServer = startTokenServer(tokenPort, readFileSync(key), readFileSync(cert), opts.auth, tokenRequests);
    await new Promise<void>((r) => tokenServer!.listen(tokenPort, "127.0.0.1", () => r()));
    authYaml =
      `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n` +
      `    service: berth-test-registry\n    issuer: berth-test-issuer\n    rootcertbundle: ${cert}\n`;
  }
  /** The token server and the registry's files: what this helper made besides the process. */
  const cleanup = async () => {
    await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(null)));
    rmSync(dir, { recursive: true, force: true });
  };
  let served: ServedRegistry;
  try {
    served = await serveRegistry({ dir, port, logLevel: "error", authYaml, ...(opts.host ? { host: opts.host } : {}) });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const stop = async () => {
    await served.stop();
    await cleanup();
  };
  return { domain: `${opts.host ?? "127.0.0.1"}:${port}`, url: served.url, dir, tokenRequests, stop };
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString("base64url");
}

/** Issues registry JWTs (ES256, certificate in x5c) for the requested scopes to one user. */
function startTokenServer(port: number, key: Buffer, certPem: Buffer, user: { username: string; password: string }, log: string[]): Server {
  const der = new X509Certificate(certPem).raw;
  return createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    const auth = req.headers.authorization ?? "";
    const [u, p] = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString().split(":") : [];
    const scopes = url.searchParams.getAll("scope");
    log.push(scopes.join(" "));
    if (u !== user.username || p !== user.password) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ details: "incorrect username or password" }));
      return;
    }
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(":");
      return type && name && actions ? [{ type, name, actions: actions.split(",") }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [der.toString("base64")] };
    const claims = {
      iss: "berth-test-issuer",
      sub: u,
      aud: url.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign("SHA256").update(input).sign({ key, dsaEncoding: "ieee-p1363" });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `${input}.${b64url(sig)}`, expires_in: 300 }));
  });
}

/** Pushes the offline busybox image to `reg` as library/busybox:latest (a Docker Hub mirror path). */
export function seedBusybox(reg: TestRegistry, workDir: string): Promise<BuiltImage> {
  return seedRegistry(reg.domain, join(workDir, "busybox-seed"));
}
