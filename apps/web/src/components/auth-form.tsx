"use client";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { authClient } from "../client/auth-client";
import { useTRPC } from "../client/trpc";
import { Button, ErrorBox } from "./ui";

/** The header the server reads the invitation from (INVITE_HEADER in @berth/core). */
const INVITE_HEADER = "x-berth-invite";

/** What the invitation in the link offers, or why it cannot be used. */
function InvitationNote({ invite }: { invite: string | null }) {
  const trpc = useTRPC();
  const offer = useQuery(trpc.invitations.lookup.queryOptions({ token: invite ?? "" }, { enabled: invite !== null, retry: false }));
  if (invite === null)
    return (
      <p className="text-sm text-slate-500" data-testid="invite-only">
        Sign-up is by invitation: open the invitation link an admin of your team sent you.
      </p>
    );
  if (offer.error) return <ErrorBox error={offer.error} />;
  if (!offer.data) return null;
  return (
    <p className="text-sm text-slate-600" data-testid="invitation">
      {offer.data.setup ? (
        <>
          This link claims this Berth install: the account you create becomes its <b>owner</b>.
        </>
      ) : (
        <>
          You are invited to the team <b>{offer.data.team}</b> as <b>{offer.data.role}</b>.
        </>
      )}
    </p>
  );
}

/** Sign-in and sign-up share one form; sign-up adds a name. */
export function AuthForm({ mode }: { mode: "login" | "signup" }) {
  const router = useRouter();
  const params = useSearchParams();
  const queryClient = useQueryClient();
  const [error, setError] = useState<{ message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const invite = params.get("invite");

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const email = String(form.get("email") ?? "");
    const password = String(form.get("password") ?? "");
    setBusy(true);
    setError(null);
    const res =
      mode === "signup"
        ? await authClient.signUp.email(
            { email, password, name: String(form.get("name") ?? "") || email.split("@")[0]! },
            invite ? { headers: { [INVITE_HEADER]: invite } } : undefined,
          )
        : await authClient.signIn.email({ email, password });
    setBusy(false);
    if (res.error) {
      setError({ message: res.error.message ?? "something went wrong" });
      return;
    }
    // Drop what was cached while signed out, so no page acts on a stale "no session" answer.
    queryClient.removeQueries();
    const next = params.get("next");
    router.replace(next?.startsWith("/") && !next.startsWith("//") ? next : "/hosts");
  }

  return (
    <div className="flex min-h-screen items-center justify-center px-4">
      <form onSubmit={onSubmit} className="w-full max-w-sm space-y-4 rounded-lg bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h1 className="text-xl font-semibold">{mode === "signup" ? "Create your Berth account" : "Sign in to Berth"}</h1>
        {mode === "signup" && <InvitationNote invite={invite} />}
        <ErrorBox error={error} />
        {mode === "signup" && (
          <label className="block text-sm">
            Name
            <input name="name" autoComplete="name" className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2" />
          </label>
        )}
        <label className="block text-sm">
          Email
          <input
            name="email"
            type="email"
            required
            autoComplete="email"
            className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2"
          />
        </label>
        <label className="block text-sm">
          Password
          <input
            name="password"
            type="password"
            required
            minLength={8}
            autoComplete={mode === "signup" ? "new-password" : "current-password"}
            className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2"
          />
        </label>
        <Button type="submit" disabled={busy} className="w-full">
          {busy ? "…" : mode === "signup" ? "Create account" : "Sign in"}
        </Button>
        <p className="text-center text-sm text-slate-500">
          {mode === "signup" ? (
            <>
              Have an account?{" "}
              <Link className="text-indigo-600" href="/login">
                Sign in
              </Link>
            </>
          ) : (
            <>
              New here?{" "}
              <Link className="text-indigo-600" href="/signup">
                Create an account
              </Link>
            </>
          )}
        </p>
      </form>
    </div>
  );
}
