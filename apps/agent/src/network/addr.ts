/*
 * Addresses and subnets of both families as bigints, for what treats IPv4 and IPv6 alike (IPAM,
 * endpoint settings, published ports). Text forms are canonical as Go's net.IP prints them
 * (RFC 5952 for IPv6: lower case, the longest run of zero groups as `::`), since that is what
 * Docker clients compare against.
 */

import { formatIp, parseIp } from "./cidr.ts";
import { CidrError } from "./errors.ts";

export type Family = 4 | 6;

export interface Address {
  family: Family;
  value: bigint;
}

export interface Subnet {
  family: Family;
  /** The network address. */
  base: bigint;
  prefix: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

function parse6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(s)) return null;
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      // An embedded IPv4 address (::ffff:10.0.0.1) is allowed as the last item only.
      if (i === items.length - 1 && g.includes(".")) {
        try {
          const v4 = parseIp(g);
          out.push(v4 >>> 16, v4 & 0xffff);
        } catch {
          return null;
        }
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return null;
  // The embedded IPv4 address ends the address: never before "::".
  if (halves.length === 2 && halves[0]!.includes(".")) return null;
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return null;
    groups = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function format6(v: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(16 * (7 - i))) & 0xffffn));
  // The longest run of two or more zero groups (the first of equal ones) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** An IPv4 or IPv6 address (no zone, no brackets), or null when it is neither. */
export function tryParseAddress(s: string): Address | null {
  const t = s.trim();
  if (t.includes(":")) {
    const v = parse6(t);
    return v === null ? null : { family: 6, value: v };
  }
  try {
    return { family: 4, value: BigInt(parseIp(t)) };
  } catch {
    return null;
  }
}

export function parseAddress(s: string): Address {
  const a = tryParseAddress(s);
  if (!a) throw new CidrError(`invalid IP address: ${s}`);
  return a;
}

export function formatAddress(a: Address): string {
  return a.family === 4 ? formatIp(Number(a.value)) : format6(a.value);
}

/** The canonical text of an address (`2001:DB8:0::1` is `2001:db8::1`). */
export function canonicalAddress(s: string): string {
  return formatAddress(parseAddress(s));
}

export function familyOf(s: string): Family | null {
  return tryParseAddress(s)?.family ?? null;
}

function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

/** `10.1.2.0/24` or `fd00:1::/64`; host bits are refused, as Docker refuses them. */
export function parseSubnet(s: string): Subnet {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  const a = m ? tryParseAddress(m[1]!) : null;
  if (!m || !a || Number(m[2]) > bitsOf(a.family)) throw new CidrError(`invalid CIDR address: ${s}`);
  const prefix = Number(m[2]);
  const base = a.value & maskOf(a.family, prefix);
  if (base !== a.value) {
    const fixed = formatSubnet({ family: a.family, base, prefix });
    throw new CidrError(`invalid subnet ${s}: it has host bits set (did you mean ${fixed}?)`);
  }
  return { family: a.family, base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatAddress({ family: s.family, value: s.base })}/${s.prefix}`;
}

export function lastOf(s: Subnet): bigint {
  return s.base | (maskOf(s.family, s.prefix) ^ ((1n << BigInt(bitsOf(s.family))) - 1n));
}

export function subnetContains(s: Subnet, a: Address): boolean {
  return s.family === a.family && (a.value & maskOf(s.family, s.prefix)) === s.base;
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  if (a.family !== b.family) return false;
  const m = maskOf(a.family, Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

/** 169.254.0.0/16 and fe80::/10: the only addresses Docker takes as an endpoint's link-local IPs. */
export function isLinkLocalUnicast(a: Address): boolean {
  if (a.family === 4) return a.value >> 16n === 0xa9fen;
  return a.value >> 118n === 0x3fan;
}

/** The unspecified address of a family: what a port published on "every address" binds. */
export const ANY: Record<Family, string> = { 4: "0.0.0.0", 6: "::" };
