import { betterAuth } from "better-auth";
import { APIError } from "better-auth/api";
import { prismaAdapter } from "better-auth/adapters/prisma";
import type { Db } from "@berth/db";
import { claimInvitation, INVITE_HEADER, isDomainError, joinByInvitation } from "@berth/core";

export interface AuthOptions {
  db: Db;
  secret: string;
  /** The URL browsers use to reach the control plane. */
  baseURL: string;
  trustedOrigins?: string[];
  /** Sign-up without an invitation (demos): such accounts join no team. */
  openSignUp?: boolean;
}

/** The invitation a sign-up request carries (the sign-up page sends it as a header). */
function inviteOf(context: { headers?: Headers } | null): string | null {
  return context?.headers?.get(INVITE_HEADER)?.trim() || null;
}

/**
 * Email + password sessions stored in Postgres (better-auth's user/session/account tables).
 * Sign-up needs an invitation (see @berth/core invitations), which decides the team and role;
 * the first owner's comes from the setup link the control plane prints.
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
          before: async (user, context) => {
            const invite = inviteOf(context);
            if (!invite) {
              if (opts.openSignUp) return;
              throw new APIError("FORBIDDEN", {
                message: "sign-up is by invitation only: ask an admin of your team for an invitation link",
              });
            }
            try {
              await claimInvitation(opts.db, invite, user.email);
            } catch (e) {
              if (isDomainError(e)) throw new APIError("FORBIDDEN", { message: e.message });
              throw e;
            }
          },
          after: async (user, context) => {
            const invite = inviteOf(context);
            if (invite) await joinByInvitation(opts.db, invite, user.id, user.email);
          },
        },
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
