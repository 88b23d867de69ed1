// An in-process control plane (API, auth, agent gateway, install endpoints; no Next.js) on a
// free loopback port with its own database, plus clients that talk to it as a user would.
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "@berth/api";
import { loadEnv } from "../../apps/web/src/server/env.ts";
import { createControlPlane, type ControlPlane } from "../../apps/web/src/server/control-plane.ts";
import { freeLoopbackPort } from "../../scripts/postgres.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export interface TestControlPlane {
  cp: ControlPlane;
  url: string;
  database: TestDatabase;
  signUp(email: string, password?: string): Promise<UserClient>;
  close(): Promise<void>;
}

export interface UserClient {
  cookie: string;
  trpc: ReturnType<typeof trpcClient>;
}

export function trpcClient(url: string, cookie?: string) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers: () => (cookie ? { cookie } : {}) })],
  });
}

export { TRPCClientError };

export async function startTestControlPlane(
  opts: { host?: string; publicUrl?: string; offlineAfterMs?: number; port?: number; tls?: { certFile: string; keyFile: string } } = {},
): Promise<TestControlPlane> {
  const database = await createTestDatabase();
  const port = opts.port ?? (await freeLoopbackPort());
  const env = loadEnv({
    NODE_ENV: "test",
    PORT: String(port),
    HOST: opts.host ?? "127.0.0.1",
    DATABASE_URL: database.url,
    BETTER_AUTH_SECRET: "test-secret-test-secret-test-secret-0123",
    BERTH_WEB_UI: "0",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    ...(opts.publicUrl ? { PUBLIC_URL: opts.publicUrl } : {}),
    ...(opts.offlineAfterMs ? { BERTH_OFFLINE_AFTER_MS: String(opts.offlineAfterMs) } : {}),
    ...(opts.tls ? { TLS_CERT_FILE: opts.tls.certFile, TLS_KEY_FILE: opts.tls.keyFile } : {}),
  });
  const cp = createControlPlane(env);
  await cp.listen();
  const url = opts.publicUrl ?? `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  return {
    cp,
    url,
    database,
    signUp: (email, password = "password-123") => signUp(url, email, password),
    async close() {
      await cp.close();
      await database.drop();
    },
  };
}

export async function signUp(url: string, email: string, password: string): Promise<UserClient> {
  const res = await fetch(`${url}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password, name: email.split("@")[0] }),
  });
  if (!res.ok) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  return { cookie, trpc: trpcClient(url, cookie) };
}
