import { invalid } from "../errors.ts";

/*
 * IPv4 arithmetic for overlay networks: subnets, their overlap, the pool new subnets come from,
 * and endpoint addresses. Overlay networks are IPv4 only for now.
 */

export interface Subnet4 {
  base: number;
  prefix: number;
}

/** Swarm's default address pool: 10.0.0.0/8 cut into /24s. */
export const DEFAULT_POOL: Subnet4 = { base: 0x0a000000, prefix: 8 };
export const DEFAULT_SUBNET_PREFIX = 24;
/**
 * The WireGuard mesh's tunnel addresses (one per host that takes part in encrypted networks). Hosts
 * route it to their tunnel interface, so no overlay network may overlap it: the default pool skips
 * it and a subnet given inside it is refused.
 */
export const MESH_SUBNET: Subnet4 = { base: 0x0aff0000, prefix: 16 };
/** VNIs below this are left to other VXLAN users (Docker's overlay starts at 4096 too). */
export const FIRST_VNI = 4096;
export const LAST_VNI = 16_777_215;

export function parseIp4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** A subnet in CIDR form; its address must be the network's (10.0.0.0/24, not 10.0.0.5/24), as dockerd insists. */
export function parseSubnet4(s: string): Subnet4 {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  const base = m ? parseIp4(m[1]!) : null;
  const prefix = m ? Number(m[2]) : Number.NaN;
  if (base === null || !(prefix >= 0 && prefix <= 32)) throw invalid(`invalid subnet ${s}: an IPv4 CIDR such as 10.0.9.0/24`);
  if ((base & mask(prefix)) >>> 0 !== base)
    throw invalid(`invalid subnet ${s}: the address is not the network's (${formatIp4((base & mask(prefix)) >>> 0)}/${prefix})`);
  return { base, prefix };
}

export const formatSubnet4 = (s: Subnet4) => `${formatIp4(s.base)}/${s.prefix}`;

export function subnetsOverlap(a: Subnet4, b: Subnet4): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

export function contains(s: Subnet4, ip: number): boolean {
  return (ip & mask(s.prefix)) >>> 0 === s.base;
}

/** The usable host addresses of a subnet: not its network or broadcast address. */
export function hostRange(s: Subnet4): { first: number; last: number } {
  const size = 2 ** (32 - s.prefix);
  return { first: s.base + 1, last: s.base + size - 2 };
}

/** The first /24 of the default pool that overlaps none of `taken`. */
export function freeDefaultSubnet(taken: Subnet4[]): Subnet4 | null {
  const count = 2 ** (DEFAULT_SUBNET_PREFIX - DEFAULT_POOL.prefix);
  const step = 2 ** (32 - DEFAULT_SUBNET_PREFIX);
  for (let i = 0; i < count; i++) {
    const candidate = { base: (DEFAULT_POOL.base + i * step) >>> 0, prefix: DEFAULT_SUBNET_PREFIX };
    if (!taken.some((t) => subnetsOverlap(t, candidate)) && !subnetsOverlap(MESH_SUBNET, candidate)) return candidate;
  }
  return null;
}

/** The lowest address of the subnet that is neither the gateway nor in `used`. */
export function lowestFreeAddress(s: Subnet4, gateway: number, used: ReadonlySet<number>): number | null {
  const { first, last } = hostRange(s);
  for (let ip = first; ip <= last; ip++) if (ip !== gateway && !used.has(ip)) return ip;
  return null;
}

/**
 * The MAC of an endpoint: 02:42 and its IPv4 address, as Docker makes them. An address that moves
 * to another host keeps its MAC, so the neighbour caches of containers that talked to it stay
 * right; only the VTEP behind it changes, and that is programmed at once.
 */
export function macOf(ip: number): string {
  return ["02", "42", ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}
