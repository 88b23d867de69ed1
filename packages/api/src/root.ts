import { router } from "./trpc.ts";
import { authRouter } from "./routers/auth.ts";
import { hostsRouter } from "./routers/hosts.ts";
import { joinTokensRouter } from "./routers/join-tokens.ts";

export const appRouter = router({
  auth: authRouter,
  hosts: hostsRouter,
  joinTokens: joinTokensRouter,
});

export type AppRouter = typeof appRouter;
