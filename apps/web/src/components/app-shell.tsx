"use client";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { authClient } from "../client/auth-client";
import { Spinner } from "./ui";
import { GlobalSearch } from "./global-search";

/** Frame for signed-in pages: sends visitors without a session to /login. */
export function AppShell({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());

  useEffect(() => {
    if (me.isSuccess && !me.data) router.replace(`/login?next=${encodeURIComponent(pathname)}`);
  }, [me.isSuccess, me.data, router, pathname]);

  if (me.isPending || (me.isSuccess && !me.data)) return <Spinner />;
  const role = me.data?.memberships[0]?.role;

  async function signOut() {
    await authClient.signOut();
    queryClient.clear();
    router.replace("/login");
  }

  return (
    <div className="min-h-screen">
      <nav className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl items-center gap-6 px-4 py-3">
          <Link href="/hosts" className="text-lg font-bold text-indigo-700">
            ⚓ Berth
          </Link>
          <Link href="/hosts" className={`text-sm ${pathname.startsWith("/hosts") ? "font-semibold text-slate-900" : "text-slate-600"}`}>
            Hosts
          </Link>
          <Link
            href="/services"
            className={`text-sm ${pathname.startsWith("/services") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            Services
          </Link>
          <Link href="/stacks" className={`text-sm ${pathname.startsWith("/stacks") ? "font-semibold text-slate-900" : "text-slate-600"}`}>
            Stacks
          </Link>
          <Link
            href="/networks"
            className={`text-sm ${pathname.startsWith("/networks") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            Overlay networks
          </Link>
          <Link href="/builds" className={`text-sm ${pathname.startsWith("/builds") ? "font-semibold text-slate-900" : "text-slate-600"}`}>
            Builds
          </Link>
          <Link
            href="/secrets"
            className={`text-sm ${pathname.startsWith("/secrets") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            Secrets
          </Link>
          <Link href="/fleet" className={`text-sm ${pathname.startsWith("/fleet") ? "font-semibold text-slate-900" : "text-slate-600"}`}>
            Fleet
          </Link>
          <Link href="/events" className={`text-sm ${pathname.startsWith("/events") ? "font-semibold text-slate-900" : "text-slate-600"}`}>
            Events
          </Link>
          <Link
            href="/registries"
            className={`text-sm ${pathname.startsWith("/registries") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            Registries
          </Link>
          {/* Team settings are for admins; every member finds the Docker CLI setup there. */}
          <Link
            href="/settings"
            className={`text-sm ${pathname.startsWith("/settings") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            Settings
          </Link>
          <Link
            href="/api-docs"
            className={`text-sm ${pathname.startsWith("/api-docs") ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            API
          </Link>
          <div className="ml-auto flex items-center gap-3 text-sm text-slate-600">
            <GlobalSearch />
            <span data-testid="current-user">
              {me.data?.user.email}
              {role && <span className="ml-1 rounded bg-slate-100 px-1.5 py-0.5 text-xs">{role}</span>}
            </span>
            <button type="button" onClick={signOut} className="text-slate-500 hover:text-slate-900">
              Sign out
            </button>
          </div>
        </div>
      </nav>
      <main className="mx-auto max-w-6xl px-4 py-6">{children}</main>
    </div>
  );
}
