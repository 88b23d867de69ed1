import { contains, formatCidr, formatIp, overlaps, parseCidr, parseIp, size, type Cidr } from "./cidr.ts";

/*
 * IP address management for one bridge network: which addresses of its subnet are given to
 * which endpoint. The allocation table lives in the network's record on disk, so it survives
 * agent restarts. Dynamic addresses come from the ip-range (the whole subnet by default), lowest
 * free first, so an address freed by a removed container is the next one handed out.
 */

import { IpamError } from "./errors.ts";

export interface PoolConfig {
  subnet: string;
  gateway: string;
  /** Dynamic addresses come from here (a sub-block of the subnet); static ones may be anywhere in the subnet. */
  ipRange?: string;
}

/** Checks a user's pool settings and fills the gateway (the subnet's first address) if none is given. */
export function normalizePool(input: { subnet: string; gateway?: string; ipRange?: string }): PoolConfig {
  let subnet: Cidr;
  try {
    subnet = parseCidr(input.subnet);
  } catch (e) {
    throw new IpamError((e as Error).message, "INVALID");
  }
  if (subnet.prefix > 30) throw new IpamError(`invalid subnet ${input.subnet}: a network needs at least a /30`, "INVALID");
  let gateway = subnet.base + 1;
  if (input.gateway) {
    try {
      gateway = parseIp(input.gateway);
    } catch (e) {
      throw new IpamError((e as Error).message, "INVALID");
    }
    if (!contains(subnet, gateway) || isReserved(subnet, gateway))
      throw new IpamError(`no matching subnet for gateway ${input.gateway}`, "INVALID");
  }
  let range: string | undefined;
  if (input.ipRange) {
    let r: Cidr;
    try {
      r = parseCidr(input.ipRange);
    } catch (e) {
      throw new IpamError((e as Error).message, "INVALID");
    }
    if (!contains(subnet, r.base) || r.prefix < subnet.prefix)
      throw new IpamError(`no matching subnet for range ${input.ipRange}`, "INVALID");
    range = formatCidr(r);
  }
  return { subnet: formatCidr(subnet), gateway: formatIp(gateway), ...(range ? { ipRange: range } : {}) };
}

function isReserved(subnet: Cidr, ip: number): boolean {
  return ip === subnet.base || ip === subnet.base + size(subnet) - 1;
}

export class AddressPool {
  private readonly subnet: Cidr;
  private readonly range: Cidr;
  private readonly gateway: number;

  /** `allocations` (address → owner) is the network record's own table, changed in place. */
  constructor(
    readonly config: PoolConfig,
    private readonly allocations: Record<string, string>,
    private readonly label: string,
  ) {
    this.subnet = parseCidr(config.subnet);
    this.range = config.ipRange ? parseCidr(config.ipRange) : this.subnet;
    this.gateway = parseIp(config.gateway);
  }

  /** Gives `owner` an address: `requested` if given (it must be free and in the subnet), else the lowest free one. */
  allocate(owner: string, requested?: string): string {
    if (requested) {
      let ip: number;
      try {
        ip = parseIp(requested);
      } catch (e) {
        throw new IpamError((e as Error).message, "INVALID");
      }
      if (!contains(this.subnet, ip) || isReserved(this.subnet, ip))
        throw new IpamError(`Invalid address ${requested}: It does not belong to any of this network's subnets`, "INVALID");
      const text = formatIp(ip);
      if (ip === this.gateway || (this.allocations[text] !== undefined && this.allocations[text] !== owner))
        throw new IpamError("Address already in use", "CONFLICT");
      this.allocations[text] = owner;
      return text;
    }
    const first = this.range.base;
    const last = this.range.base + size(this.range) - 1;
    for (let ip = first; ip <= last; ip++) {
      if (ip === this.gateway || isReserved(this.subnet, ip)) continue;
      const text = formatIp(ip);
      if (this.allocations[text] !== undefined) continue;
      this.allocations[text] = owner;
      return text;
    }
    throw new IpamError(`no available IPv4 addresses on this network's address pools: ${this.label}`, "CONFLICT");
  }

  release(ip: string): void {
    delete this.allocations[ip];
  }

  /** The address of `owner`, if it has one. */
  addressOf(owner: string): string | undefined {
    return Object.entries(this.allocations).find(([, o]) => o === owner)?.[0];
  }

  get prefix(): number {
    return this.subnet.prefix;
  }
}

/** Docker's default address pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s. */
export function defaultPoolCandidates(): string[] {
  const out: string[] = [];
  for (let b = 17; b <= 31; b++) out.push(`172.${b}.0.0/16`);
  for (let c = 0; c < 256; c += 16) out.push(`192.168.${c}.0/20`);
  return out;
}

/** The first candidate that overlaps no route of the host and no existing network. */
export function pickFreeSubnet(inUse: string[], candidates = defaultPoolCandidates()): string {
  const taken = inUse.map((c) => parseCidr(c));
  for (const c of candidates) {
    const cidr = parseCidr(c);
    if (!taken.some((t) => overlaps(t, cidr))) return c;
  }
  throw new IpamError(
    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    "CONFLICT",
  );
}
