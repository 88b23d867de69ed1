import type { OverlayEndpoint } from "@berth/protocol";
import { bridgeBatch, bridgeCommand, checkIfName, ip, ipBatch } from "./ip.ts";

/*
 * The overlay driver's data path on one host: per network, a VXLAN device (the network's VNI,
 * UDP 4789, no learning, answering ARP itself from its neighbour table) enslaved to a bridge
 * that local containers join by veth, as on a bridge network. There is no multicast and no
 * flooding: every remote endpoint is a permanent FDB entry (its MAC → its host's VTEP) and a
 * permanent neighbour entry (its IP → its MAC), programmed from the control plane's records.
 * Each programming pass makes the kernel's tables exactly the records (replacing, then deleting
 * what is no longer there), so an address that moved to another host works at once.
 */

/** VXLAN's overhead: the outer IPv4 (20), UDP (8), VXLAN (8) and Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;
export const VXLAN_PORT = 4789;

export interface OverlayDevices {
  bridge: string;
  vxlan: string;
}

/** Interface names from the network's id (at most 15 bytes). */
export function overlayDevices(networkId: string): OverlayDevices {
  const tag = networkId.replace(/[^a-z0-9]/gi, "").slice(-12);
  return { bridge: checkIfName(`ov-${tag}`), vxlan: checkIfName(`vx-${tag}`) };
}

/** The underlay: the interface holding `vtep`, and its MTU (the overlay's is 50 less). */
export async function underlayOf(vtep: string): Promise<{ ifname: string; mtu: number }> {
  const links = JSON.parse(await ip(["-j", "-4", "addr", "show"])) as Array<{
    ifname: string;
    mtu: number;
    addr_info?: Array<{ local?: string }>;
  }>;
  const hit = links.find((l) => l.addr_info?.some((a) => a.local === vtep));
  if (!hit) throw new Error(`no interface of this host has the address ${vtep} (the VTEP)`);
  return { ifname: hit.ifname, mtu: hit.mtu };
}

/**
 * The host's underlay address for VXLAN: `configured` when the operator named one; else where the
 * link to the control plane leaves from, unless that is loopback (a control plane on the same
 * machine), when it is the address of the default route's interface. Null when there is none.
 */
export async function underlayAddress(configured: string | undefined, linkLocal: string | null): Promise<string | null> {
  if (configured) return configured;
  if (linkLocal && !linkLocal.startsWith("127.")) return linkLocal;
  // A route lookup sends nothing.
  const [route] = JSON.parse(await ip(["-j", "-4", "route", "show", "default"])) as Array<{ dev?: string; prefsrc?: string }>;
  if (!route?.dev) return null;
  if (route.prefsrc) return route.prefsrc;
  const [link] = JSON.parse(await ip(["-j", "-4", "addr", "show", "dev", route.dev])) as Array<{ addr_info?: Array<{ local?: string }> }>;
  return link?.addr_info?.[0]?.local ?? null;
}

/** Creates (or finds) the network's bridge and VXLAN device, with the gateway address and the MTU. */
export async function bringUpOverlay(
  devs: OverlayDevices,
  o: { vni: number; vtep: string; gateway: string; prefix: number; mtu: number },
): Promise<void> {
  const exists = (e: Error) => {
    if (!/File exists/.test(e.message)) throw e;
  };
  await ip(["link", "add", devs.bridge, "mtu", String(o.mtu), "type", "bridge"]).catch(exists);
  await ip(["addr", "replace", `${o.gateway}/${o.prefix}`, "dev", devs.bridge]);
  // A VXLAN device made for another VNI or VTEP (a record replaced while the agent was down) is made again.
  const current = await vxlanOf(devs.vxlan);
  if (current && (current.id !== o.vni || current.local !== o.vtep)) await ip(["link", "del", devs.vxlan]);
  if (!current || current.id !== o.vni || current.local !== o.vtep) {
    await ip([
      "link",
      "add",
      devs.vxlan,
      "mtu",
      String(o.mtu),
      "type",
      "vxlan",
      "id",
      String(o.vni),
      "local",
      o.vtep,
      "dstport",
      String(VXLAN_PORT),
      "nolearning",
      "proxy",
    ]);
  }
  await ipBatch([`link set ${devs.vxlan} mtu ${o.mtu} master ${devs.bridge} up`, `link set ${devs.bridge} mtu ${o.mtu} up`]);
}

async function vxlanOf(name: string): Promise<{ id: number; local: string } | null> {
  try {
    const [link] = JSON.parse(await ip(["-j", "-d", "link", "show", "dev", name])) as Array<{
      linkinfo?: { info_data?: { id?: number; local?: string } };
    }>;
    const d = link?.linkinfo?.info_data;
    return d?.id !== undefined && d.local ? { id: d.id, local: d.local } : null;
  } catch {
    return null;
  }
}

export async function tearDownOverlay(devs: OverlayDevices): Promise<void> {
  await ip(["link", "del", devs.vxlan]).catch(() => undefined);
  await ip(["link", "del", devs.bridge]).catch(() => undefined);
}

/**
 * Makes the VXLAN device's FDB and neighbour tables exactly `remote`: each endpoint's MAC to its
 * VTEP, its address to its MAC. Replaces come first, so an entry that moves never disappears.
 */
export async function programPeers(
  devs: OverlayDevices,
  remote: readonly OverlayEndpoint[],
  /** Addresses this host answers for itself (service VIPs, with the bridge's MAC): neighbour entries only. */
  local: readonly { ip: string; mac: string }[] = [],
): Promise<void> {
  const dev = devs.vxlan;
  const fdb = JSON.parse(await bridgeJson(["fdb", "show", "dev", dev])) as Array<{ mac: string; dst?: string; state?: string }>;
  const neigh = JSON.parse(await ip(["-j", "-4", "neigh", "show", "dev", dev])) as Array<{
    dst: string;
    lladdr?: string;
    state?: string[];
  }>;
  const wantMacs = new Map(remote.map((e) => [e.mac, e.vtep]));
  const wantIps = new Map([...remote.map((e) => [e.ip, e.mac] as const), ...local.map((l) => [l.ip, l.mac] as const)]);
  // Only what differs from the kernel's tables is written: a pass over an unchanged network runs no command.
  const haveFdb = new Map(fdb.filter((f) => f.dst && f.state === "permanent").map((f) => [f.mac, f.dst]));
  const haveNeigh = new Map(neigh.filter((n) => n.state?.includes("PERMANENT")).map((n) => [n.dst, n.lladdr]));
  const fdbLines = [
    ...[...wantMacs]
      .filter(([mac, vtep]) => haveFdb.get(mac) !== vtep)
      .map(([mac, vtep]) => `fdb replace ${mac} dev ${dev} dst ${vtep} self permanent`),
    ...fdb.filter((f) => f.dst && !wantMacs.has(f.mac)).map((f) => `fdb del ${f.mac} dev ${dev} self`),
  ];
  const neighLines = [
    ...[...wantIps]
      .filter(([ip, mac]) => haveNeigh.get(ip) !== mac)
      .map(([ip, mac]) => `neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`),
    ...neigh.filter((n) => !wantIps.has(n.dst)).map((n) => `neigh del ${n.dst} dev ${dev}`),
  ];
  await bridgeBatch(fdbLines);
  await ipBatch(neighLines);
}

async function bridgeJson(args: string[]): Promise<string> {
  const out = await bridgeCommand(["-j", ...args]);
  return out.trim() || "[]";
}
