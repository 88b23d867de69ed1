import { overlaps, parseCidr } from "./cidr.ts";
import {
  formatAddress,
  formatSubnet,
  lastOf,
  parseSubnet,
  subnetContains,
  tryParseAddress,
  type Address,
  type Family,
  type Subnet,
} from "./addr.ts";

/*
 * IP address management for one address pool (a subnet of one family) of a bridge network: which
 * addresses are given to which endpoint. The allocation table lives in the network's record on
 * disk, so it survives agent restarts; a network's IPv4 and IPv6 pools share it (their keys never
 * clash). Dynamic addresses come from the ip-range (the whole subnet by default), lowest free
 * first, so an address freed by a removed container is the next one handed out. As Docker's IPAM,
 * the subnet's network address is never given, nor IPv4's broadcast address, the gateway or an
 * auxiliary address.
 */

import { IpamError } from "./errors.ts";

export interface PoolConfig {
  subnet: string;
  gateway: string;
  /** Dynamic addresses come from here (a sub-block of the subnet); static ones may be anywhere in the subnet. */
  ipRange?: string;
  /** `--aux-address name=ip`: addresses of the subnet reserved for something outside Docker, never handed out. */
  auxAddresses?: Record<string, string>;
}

export interface PoolRequest {
  subnet: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string> | null;
}

function subnetOf(text: string): Subnet {
  try {
    return parseSubnet(text);
  } catch (e) {
    throw new IpamError((e as Error).message, "INVALID");
  }
}

/** Checks a user's pool settings and fills the gateway (the subnet's first address) if none is given; `network` names it in errors. */
export function normalizePool(input: PoolRequest, network = ""): PoolConfig {
  const subnet = subnetOf(input.subnet);
  const min = subnet.family === 4 ? 30 : 126;
  if (subnet.prefix > min) throw new IpamError(`invalid subnet ${input.subnet}: a network needs at least a /${min}`, "INVALID");
  let gateway: Address = { family: subnet.family, value: subnet.base + 1n };
  if (input.gateway) {
    const gw = tryParseAddress(input.gateway);
    if (!gw || !subnetContains(subnet, gw) || isReserved(subnet, gw.value))
      throw new IpamError(`no matching subnet for gateway ${input.gateway}`, "INVALID");
    gateway = gw;
  }
  let range: string | undefined;
  if (input.ipRange) {
    const r = subnetOf(input.ipRange);
    if (r.family !== subnet.family || !subnetContains(subnet, { family: r.family, value: r.base }) || r.prefix < subnet.prefix)
      throw new IpamError(`no matching subnet for range ${input.ipRange}`, "INVALID");
    range = formatSubnet(r);
  }
  const aux: Record<string, string> = {};
  const taken = new Set([gateway.value]);
  for (const [name, text] of Object.entries(input.auxAddresses ?? {})) {
    const a = typeof text === "string" ? tryParseAddress(text) : null;
    // dockerd's wording and statuses (libnetwork's ipamAllocateVersion).
    if (!a) throw new IpamError(`non parsable secondary ip address (${name}:${text}) passed for network ${network}`, "INVALID");
    if (!subnetContains(subnet, a))
      throw new IpamError(`auxiliary address: (${name}:${text}) must belong to the master pool: ${formatSubnet(subnet)}`, "FORBIDDEN");
    if (taken.has(a.value) || a.value === subnet.base)
      throw new IpamError(`failed to allocate secondary ip address (${name}:${text}): Address already in use`, "FAILED");
    taken.add(a.value);
    aux[name] = formatAddress(a);
  }
  return {
    subnet: formatSubnet(subnet),
    gateway: formatAddress(gateway),
    ...(range ? { ipRange: range } : {}),
    ...(Object.keys(aux).length ? { auxAddresses: aux } : {}),
  };
}

/** The network address, and IPv4's broadcast address: never an endpoint's. */
function isReserved(subnet: Subnet, ip: bigint): boolean {
  return ip === subnet.base || (subnet.family === 4 && ip === lastOf(subnet));
}

export class AddressPool {
  readonly family: Family;
  private readonly subnet: Subnet;
  private readonly range: Subnet;
  private readonly taken: Set<bigint>;

  /** `allocations` (address → owner) is the network record's own table, changed in place. */
  constructor(
    readonly config: PoolConfig,
    private readonly allocations: Record<string, string>,
    private readonly label: string,
  ) {
    this.subnet = parseSubnet(config.subnet);
    this.family = this.subnet.family;
    this.range = config.ipRange ? parseSubnet(config.ipRange) : this.subnet;
    const fixed = [config.gateway, ...Object.values(config.auxAddresses ?? {})];
    this.taken = new Set(fixed.map((t) => tryParseAddress(t)!.value));
  }

  /** Gives `owner` an address: `requested` if given (it must be free and in the subnet), else the lowest free one. */
  allocate(owner: string, requested?: string): string {
    if (requested) {
      const ip = tryParseAddress(requested);
      if (!ip || ip.family !== this.family) throw new IpamError(`invalid IPv${this.family} address: ${requested}`, "INVALID");
      if (!subnetContains(this.subnet, ip) || isReserved(this.subnet, ip.value))
        throw new IpamError(`Invalid address ${requested}: It does not belong to any of this network's subnets`, "INVALID");
      const text = formatAddress(ip);
      if (this.taken.has(ip.value) || (this.allocations[text] !== undefined && this.allocations[text] !== owner))
        throw new IpamError("Address already in use", "CONFLICT");
      this.allocations[text] = owner;
      return text;
    }
    // Every address skipped is allocated, fixed or reserved, so this ends within the table's size of the first free one.
    const last = lastOf(this.range);
    for (let ip = this.range.base; ip <= last; ip++) {
      if (this.taken.has(ip) || isReserved(this.subnet, ip)) continue;
      const text = formatAddress({ family: this.family, value: ip });
      if (this.allocations[text] !== undefined) continue;
      this.allocations[text] = owner;
      return text;
    }
    throw new IpamError(`no available IPv${this.family} addresses on this network's address pools: ${this.label}`, "CONFLICT");
  }

  release(ip: string): void {
    delete this.allocations[ip];
  }

  /** The address of `owner` in this pool, if it has one. */
  addressOf(owner: string): string | undefined {
    return Object.entries(this.allocations).find(([ip, o]) => o === owner && tryParseAddress(ip)?.family === this.family)?.[0];
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

/**
 * The first candidate that overlaps no route of the host and no existing network. IPv4 only: there
 * are no default IPv6 pools, as in Docker 20.10.
 */
export function pickFreeSubnet(inUse: string[], candidates = defaultPoolCandidates()): string {
  const taken = inUse.filter((c) => !c.includes(":")).map((c) => parseCidr(c));
  for (const c of candidates) {
    const cidr = parseCidr(c);
    if (!taken.some((t) => overlaps(t, cidr))) return c;
  }
  throw new IpamError(
    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    "CONFLICT",
  );
}
