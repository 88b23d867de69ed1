import { authed, rest, router } from "../trpc.ts";

/** The fleet's Docker endpoint, for the few lines the dashboard gives to point a docker CLI at it. */
export const dockerRouter = router({
  endpoint: authed.meta(rest("GET", "/docker-endpoint")).query(({ ctx }) => ({
    dockerHost: ctx.dockerEndpoint?.dockerHost ?? null,
    /** The control plane's certificate (public): what `docker context create … ca=` verifies against. */
    caPem: ctx.dockerEndpoint?.caPem ?? null,
  })),
});
