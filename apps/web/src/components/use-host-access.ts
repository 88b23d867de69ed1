"use client";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";

/** The host and what the signed-in user may do on it (the server enforces the same roles). */
export function useHostAccess(hostId: string) {
  const trpc = useTRPC();
  const host = useQuery(trpc.hosts.get.queryOptions({ id: hostId }));
  const me = useQuery(trpc.auth.me.queryOptions());
  const role = me.data?.memberships.find((m) => m.teamId === host.data?.teamId)?.role;
  return { host, canOperate: role === "owner" || role === "admin" || role === "operator" };
}
