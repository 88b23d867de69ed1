import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import type { LookupFunction } from "node:net";
import { DomainError } from "./errors.ts";

/*
 * Where webhooks may go. The control plane sits inside a network: a webhook aimed at a loopback,
 * link-local or private address would let a team admin probe or poke services the control plane
 * can reach and they cannot (SSRF). Such targets are refused unless an admin allow-listed them
 * (a host name, an address, or a CIDR). The check runs when a webhook is made and again on every
 * delivery, on the very address the connection then uses, so a name that changes its answer
 * between the two (DNS rebinding) gains nothing.
 */

const INTERNAL = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  INTERNAL.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  INTERNAL.addSubnet(net, bits, "ipv6");

/** An IPv4 address written as IPv4-mapped IPv6 (::ffff:10.0.0.1) is that IPv4 address. */
function plain(address: string): { address: string; family: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: "ipv4" };
  return { address, family: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

/** Loopback, link-local, private, shared, multicast or otherwise not a public unicast address. */
export function isInternalAddress(address: string): boolean {
  const a = plain(address);
  return INTERNAL.check(a.address, a.family);
}

/** Checks an allow-list entry's shape: a host name, an IP address, or a CIDR. */
export function checkAllowlistEntry(entry: string): string {
  const e = entry.trim().toLowerCase();
  const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
  if (cidr) {
    const v = isIP(cidr[1]!);
    if (v === 0 || Number(cidr[2]) > (v === 4 ? 32 : 128)) throw new DomainError("INVALID", `'${entry}' is not a valid CIDR`);
    return e;
  }
  if (isIP(e) || /^[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$/.test(e)) return e;
  throw new DomainError("INVALID", `'${entry}' is not a host name, an address or a CIDR`);
}

function allowed(host: string, address: string, allowlist: readonly string[]): boolean {
  const list = new BlockList();
  const a = plain(address);
  for (const raw of allowlist) {
    const e = raw.toLowerCase();
    if (e === host.toLowerCase()) return true;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
    try {
      if (cidr) list.addSubnet(plain(cidr[1]!).address, Number(cidr[2]), plain(cidr[1]!).family);
      else if (isIP(e)) list.addAddress(plain(e).address, plain(e).family);
    } catch {
      // an entry of the other family, or malformed: it allows nothing
    }
  }
  return list.check(a.address, a.family);
}

const refuse = (host: string, address: string) => {
  const what = `webhook target ${host} is an internal address (${address})`;
  return new DomainError("FORBIDDEN", `${what}: an admin can allow it in Settings → Webhooks`);
};

/** The addresses a webhook URL's host stands for, each checked against the allow-list. */
export async function checkWebhookTarget(url: string, allowlist: readonly string[]): Promise<void> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((r) => r.address);
  for (const address of addresses) if (isInternalAddress(address) && !allowed(host, address, allowlist)) throw refuse(host, address);
}

/**
 * A `lookup` for the delivery's connection that resolves and checks in one step: the address it
 * hands to the socket is the one it checked.
 */
export function guardedLookup(allowlist: readonly string[]): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { all: true, family: options.family ?? 0 })
      .then((results) => {
        for (const r of results)
          if (isInternalAddress(r.address) && !allowed(hostname, r.address, allowlist)) throw refuse(hostname, r.address);
        if (options.all) callback(null, results);
        else callback(null, results[0]!.address, results[0]!.family);
      })
      .catch((e: Error) => callback(e as NodeJS.ErrnoException, "", 0));
  };
}
