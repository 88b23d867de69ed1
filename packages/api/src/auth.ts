import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import type { Db } from "@berth/db";
import { onUserCreated } from "@berth/core";

export interface AuthOptions {
  db: Db;
  secret: string;
  /** The URL browsers use to reach the control plane. */
  baseURL: string;
  trustedOrigins?: string[];
}

/**
 * Email + password sessions stored in Postgres (better-auth's user/session/account tables).
 * The first user to sign up becomes owner of the default team.
 */
export function createAuth(opts: AuthOptions) {
  return betterAuth({
    database: prismaAdapter(opts.db, { provider: "postgresql" }),
    secret: opts.secret,
    baseURL: opts.baseURL,
    basePath: "/api/auth",
    trustedOrigins: opts.trustedOrigins ?? [],
    telemetry: { enabled: false },
    // The control plane sets this header from the socket address before better-auth sees a request.
    advanced: { ipAddress: { ipAddressHeaders: ["x-forwarded-for"] } },
    emailAndPassword: { enabled: true, autoSignIn: true, minPasswordLength: 8 },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    databaseHooks: {
      user: {
        create: {
          after: async (user) => {
            await onUserCreated(opts.db, user.id);
          },
        },
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
