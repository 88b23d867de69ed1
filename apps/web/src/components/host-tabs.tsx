"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";

/** Tabs of a host's pages. */
export function HostTabs({ hostId }: { hostId: string }) {
  const pathname = usePathname();
  const tabs = [
    { href: `/hosts/${hostId}`, label: "Overview" },
    { href: `/hosts/${hostId}/containers`, label: "Containers" },
    { href: `/hosts/${hostId}/images`, label: "Images" },
    { href: `/hosts/${hostId}/networks`, label: "Networks" },
    { href: `/hosts/${hostId}/volumes`, label: "Volumes" },
  ];
  return (
    <nav className="flex gap-4 border-b border-slate-200 text-sm" aria-label="Host sections">
      {tabs.map((t) => {
        const active = pathname === t.href || (t.href !== `/hosts/${hostId}` && pathname.startsWith(`${t.href}/`));
        return (
          <Link
            key={t.href}
            href={t.href}
            aria-current={active ? "page" : undefined}
            className={`-mb-px border-b-2 px-1 pb-2 ${
              active ? "border-indigo-600 font-semibold text-slate-900" : "border-transparent text-slate-500 hover:text-slate-800"
            }`}
          >
            {t.label}
          </Link>
        );
      })}
    </nav>
  );
}
