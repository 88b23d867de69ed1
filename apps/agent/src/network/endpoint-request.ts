/*
 * Checks of what a container asks for on one network (static addresses, link-local IPs, MAC
 * address), and IPAM.Config entries to and from Docker's shape. The messages are dockerd's.
 */

import { familyOf, isLinkLocalUnicast, tryParseAddress } from "./addr.ts";
import { NetworkError } from "./errors.ts";
import type { PoolConfig, PoolRequest } from "./ipam.ts";
import type { EndpointRequest, IpamConfigEntry, NetworkRecord } from "./service.ts";

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

/** Refuses endpoint settings network `n` cannot honour, before any address is given. */
export function checkEndpointRequest(n: NetworkRecord, req: EndpointRequest): void {
  const ipam = req.IPAMConfig ?? {};
  const v4 = ipam.IPv4Address || "";
  const v6 = ipam.IPv6Address || "";
  if (n.predefined) {
    if (v4 || v6) throw new NetworkError("user specified IP address is supported on user defined networks only", "INVALID");
    if (req.Aliases?.length)
      throw new NetworkError("network-scoped alias is supported only for containers in user defined networks", "INVALID");
  }
  if (v4 && familyOf(v4) !== 4) throw new NetworkError(`invalid IPv4 address: ${v4}`, "INVALID");
  if (v6) {
    const a = tryParseAddress(v6);
    if (a?.family !== 6 || a.value === 0n) throw new NetworkError(`invalid IPv6 address: ${v6}`, "INVALID");
    // dockerd's ErrUnsupportedNetworkNoSubnetAndIP: the network must have an IPv6 subnet configured. Without
    // EnableIPv6 the address is kept in the endpoint's IPAMConfig and never given, as dockerd does.
    if (!n.pool6 && !n.unusedIpam?.some((c) => c.Subnet))
      throw new NetworkError(
        "user specified IP address is supported only when connecting to networks with user configured subnets",
        "INVALID",
      );
  }
  for (const ll of ipam.LinkLocalIPs ?? []) {
    const a = tryParseAddress(ll);
    if (!a || a.value === 0n) throw new NetworkError(`invalid link-local IP address: ${ll}`, "INVALID");
    if (!isLinkLocalUnicast(a)) throw new NetworkError(`invalid link local IP address: ${ll}`, "INVALID");
  }
  if (req.MacAddress) {
    if (!MAC.test(req.MacAddress)) throw new NetworkError(`invalid MAC address ${req.MacAddress}`, "INVALID");
    // The kernel refuses a group address on an Ethernet interface; say so now rather than at a start.
    if (Number.parseInt(req.MacAddress.slice(0, 2), 16) & 1)
      throw new NetworkError(`invalid MAC address ${req.MacAddress}: it is a multicast address`, "INVALID");
  }
}

/** The IPv4 and IPv6 entries of an IPAM.Config; an entry without a subnet asks for an IPv4 one from the defaults. */
export function splitIpamConfigs(configs: IpamConfigEntry[]): { v4: IpamConfigEntry[]; v6: IpamConfigEntry[] } {
  const v4: IpamConfigEntry[] = [];
  const v6: IpamConfigEntry[] = [];
  for (const c of configs) {
    if (c.Subnet && !/^[^/]+\/\d{1,3}$/.test(c.Subnet)) {
      // dockerd's getIpamConfig: a subnet that does not parse at all.
      throw new NetworkError(`invalid CIDR address: ${c.Subnet}`, "INVALID");
    }
    (c.Subnet?.includes(":") ? v6 : v4).push(c);
  }
  return { v4, v6 };
}

export function poolRequest(c: IpamConfigEntry): PoolRequest {
  return {
    subnet: c.Subnet ?? "",
    ...(c.Gateway ? { gateway: c.Gateway } : {}),
    ...(c.IPRange ? { ipRange: c.IPRange } : {}),
    ...(c.AuxiliaryAddresses ? { auxAddresses: c.AuxiliaryAddresses } : {}),
  };
}

/** Docker's IPAM.Config entry of a pool (AuxiliaryAddresses only when there are some, as dockerd omits it). */
export function ipamEntry(p: PoolConfig): IpamConfigEntry {
  return {
    Subnet: p.subnet,
    Gateway: p.gateway,
    ...(p.ipRange ? { IPRange: p.ipRange } : {}),
    ...(p.auxAddresses ? { AuxiliaryAddresses: { ...p.auxAddresses } } : {}),
  };
}
