import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { authed, rest, router } from "../trpc.ts";
import type { Context } from "../context.ts";

function signedInUser(ctx: Context) {
  if (!ctx.user)
    throw new TRPCError({ code: "FORBIDDEN", message: "client certificates are a signed-in user's own: sign in to the dashboard" });
  return ctx.user;
}

/** The fleet's Docker endpoint, for the few lines the dashboard gives to point a docker CLI at it. */
export const dockerRouter = router({
  endpoint: authed.meta(rest("GET", "/docker-endpoint")).query(({ ctx }) => ({
    dockerHost: ctx.dockerEndpoint?.dockerHost ?? null,
    /** The control plane's certificate (public): what `docker context create … ca=` verifies against. */
    caPem: ctx.dockerEndpoint?.caPem ?? null,
    /** Whether the endpoint takes client certificates (it serves TLS). */
    clientCertificates: Boolean(ctx.dockerEndpoint?.caPem),
  })),

  /** The caller's own client certificates (a token has none). */
  certificates: authed
    .meta(rest("GET", "/docker-endpoint/certificates"))
    .query(async ({ ctx }) => (ctx.user ? ctx.clientCerts.list(ctx.user.id) : [])),

  /**
   * A client certificate and key for the signed-in user, with the authority that signed it: the
   * endpoint takes it as this user (their roles, audited as them). The key is shown once and not kept.
   */
  issueCertificate: authed.meta(rest("POST", "/docker-endpoint/certificates")).mutation(async ({ ctx }) => {
    const user = signedInUser(ctx);
    if (!ctx.dockerEndpoint?.caPem) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "the Docker endpoint serves no TLS here" });
    return ctx.clientCerts.issue(user);
  }),

  revokeCertificate: authed
    .meta(rest("DELETE", "/docker-endpoint/certificates/{id}"))
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      await ctx.clientCerts.revoke(signedInUser(ctx).id, input.id);
      return { ok: true as const };
    }),
});
