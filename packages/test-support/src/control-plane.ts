// An in-process control plane (API, auth, agent gateway, install endpoints; no Next.js) on a
// free loopback port with its own database, plus clients that talk to it as a user would.
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppRouter } from "@berth/api";
import { loadEnv, prepareTls, type Env } from "../../../apps/web/src/server/env.ts";
import { createControlPlane, type ControlPlane } from "../../../apps/web/src/server/control-plane.ts";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export interface TestControlPlane {
  cp: ControlPlane;
  url: string;
  /** The environment it runs with (its TLS files, when it serves HTTPS). */
  env: Env;
  database: TestDatabase;
  /**
   * Makes an account as a user would. The first claims the install with the setup link (owner of
   * the default team); later ones sign up with an invitation the owner makes, as viewers unless
   * `role` says otherwise.
   */
  signUp(email: string, password?: string, role?: "owner" | "admin" | "operator" | "viewer"): Promise<UserClient>;
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

/** The tRPC error a call ends with (its code and message); fails the test when the call succeeds. */
export async function trpcError(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof TRPCClientError)) throw new Error(`expected a tRPC error, got ${String(e)}`);
    return { code: (e.data as { code: string }).code, message: e.message };
  }
  throw new Error("the call succeeded");
}

export async function startTestControlPlane(
  opts: {
    host?: string;
    publicUrl?: string;
    offlineAfterMs?: number;
    port?: number;
    tls?: { certFile: string; keyFile: string };
    env?: Record<string, string>;
    database?: TestDatabase;
  } = {},
): Promise<TestControlPlane> {
  const database = opts.database ?? (await createTestDatabase());
  const port = opts.port ?? (await freeLoopbackPort());
  // What the control plane makes itself (its certificate off loopback) goes to a directory of this test's.
  const dataDir = mkdtempSync(join(tmpdir(), "berth-cp-"));
  const env = loadEnv({
    BERTH_DATA_DIR: dataDir,
    NODE_ENV: "test",
    PORT: String(port),
    HOST: opts.host ?? "127.0.0.1",
    DATABASE_URL: database.url,
    BETTER_AUTH_SECRET: "test-secret-test-secret-test-secret-0123",
    BERTH_WEB_UI: "0",
    // The fleet Docker API on a free port (tests run several control planes on one machine).
    BERTH_DOCKER_PORT: "0",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    ...(opts.publicUrl ? { PUBLIC_URL: opts.publicUrl } : {}),
    ...(opts.offlineAfterMs ? { BERTH_OFFLINE_AFTER_MS: String(opts.offlineAfterMs) } : {}),
    ...(opts.tls ? { TLS_CERT_FILE: opts.tls.certFile, TLS_KEY_FILE: opts.tls.keyFile } : {}),
    ...opts.env,
  });
  await prepareTls(env);
  const cp = createControlPlane(env);
  await cp.listen();
  const url = opts.publicUrl ?? (opts.host ? env.PUBLIC_URL : `${env.TLS_CERT_FILE ? "https" : "http"}://127.0.0.1:${port}`);
  let owner: UserClient | null = null;
  return {
    cp,
    url,
    env,
    database,
    signUp: async (email, password = "password-123", role = "viewer") => {
      if (!owner) {
        if (!cp.setupLink) throw new Error("the control plane printed no setup link");
        owner = await signUp(url, email, password, inviteOf(cp.setupLink));
        return owner;
      }
      const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
      const { link } = await owner.trpc.invitations.create.mutate({ teamId, role });
      return signUp(url, email, password, inviteOf(link));
    },
    async close() {
      await cp.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The invitation token in a setup or invitation link. */
export function inviteOf(link: string): string {
  const token = new URL(link).searchParams.get("invite");
  if (!token) throw new Error(`no invitation in ${link}`);
  return token;
}

/** Signs up through better-auth's endpoint, with an invitation (sign-up is closed without one). */
export async function signUp(url: string, email: string, password: string, invite?: string): Promise<UserClient> {
  const res = await fetch(`${url}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url, ...(invite ? { "x-berth-invite": invite } : {}) },
    body: JSON.stringify({ email, password, name: email.split("@")[0] }),
  });
  if (!res.ok) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  return { cookie, trpc: trpcClient(url, cookie) };
}
