"use client";
import { QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import superjson from "superjson";
import { useState, type ReactNode } from "react";
import type { AppRouter } from "@berth/api";
import { RefetchingQueryClient } from "../src/client/query-client";
import { TRPCProvider } from "../src/client/trpc";

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new RefetchingQueryClient({
        defaultOptions: {
          queries: {
            staleTime: 1_000,
            // Auth and validation errors will not fix themselves by retrying.
            retry: (count, err) =>
              count < 2 &&
              !/UNAUTHORIZED|FORBIDDEN|NOT_FOUND|BAD_REQUEST/.test(String((err as { data?: { code?: string } }).data?.code ?? "")),
          },
        },
      }),
  );
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          // Streams (an image pull's progress) come as server-sent events.
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: "/api/trpc", transformer: superjson }),
          // maxItems matches the server's batch limit (MAX_BATCH in the control plane).
          false: httpBatchLink({ url: "/api/trpc", transformer: superjson, maxItems: 32, headers: () => ({ "x-berth-channel": "ui" }) }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
