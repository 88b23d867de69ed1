import { spawn } from "node:child_process";
import { createHash, createPublicKey, generateKeyPairSync, createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MeshPeer } from "@berth/protocol";
import { NetworkCommandError } from "./errors.ts";
import { checkIfName, ip, ipBatch, wg } from "./ip.ts";

/*
 * The WireGuard mesh that encrypted overlay networks run their VXLAN over. The host has one
 * tunnel interface for all of them: its address is the host's VTEP on encrypted networks, and each
 * peer is another host of one of them, allowed only its own tunnel address. VXLAN packets between
 * tunnel addresses are therefore sealed by WireGuard before they reach the underlay. The kernel's
 * WireGuard is used where it exists, wireguard-go (a TUN device) otherwise.
 *
 * The key pair is made here and never leaves the host but for its public half: Node's x25519 keys
 * are WireGuard's (the raw 32 bytes, base64).
 */

/** WireGuard's overhead on an IPv4 underlay: outer IPv4 (20), UDP (8), its header (16) and tag (16). */
export const WIREGUARD_OVERHEAD = 60;
export const WIREGUARD_PORT = 51820;

export interface MeshKeys {
  /** The file holding the private key (base64), readable by root only: `wg` reads it from there. */
  privateKeyFile: string;
  publicKey: string;
}

/** The host's key pair, made at first use and kept in the agent's state directory. */
export function meshKeys(stateDir: string): MeshKeys {
  const dir = join(stateDir, "mesh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(dir, "private.key");
  if (!existsSync(privateKeyFile)) {
    const { privateKey } = generateKeyPairSync("x25519");
    const raw = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
    writeFileSync(privateKeyFile, `${raw.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  }
  const raw = Buffer.from(readFileSync(privateKeyFile, "utf8").trim(), "base64");
  if (raw.length !== 32) throw new NetworkCommandError(`${privateKeyFile} is not a WireGuard private key`);
  // PKCS#8 for an X25519 key: a fixed 16-byte prefix, then the 32 raw bytes.
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]);
  const pub = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }));
  return { privateKeyFile, publicKey: pub.export({ format: "der", type: "spki" }).subarray(-32).toString("base64") };
}

/**
 * The tunnel interface's name, from the agent's state directory: unique per agent on a machine,
 * as wireguard-go's control sockets (/var/run/wireguard/<name>.sock) are shared by every
 * network namespace.
 */
export function meshInterface(stateDir: string): string {
  return checkIfName(`bwg${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}`);
}

async function linkExists(name: string): Promise<boolean> {
  try {
    await ip(["link", "show", "dev", name]);
    return true;
  } catch {
    return false;
  }
}

/** Creates the interface: the kernel's WireGuard, else wireguard-go (which puts itself in the background). */
async function createInterface(name: string): Promise<void> {
  try {
    await ip(["link", "add", "dev", name, "type", "wireguard"]);
    return;
  } catch (e) {
    if (!/Unknown device type|not supported|Operation not supported/i.test((e as Error).message)) throw e;
  }
  await new Promise<void>((resolve, reject) => {
    const p = spawn("wireguard-go", [name], { stdio: "ignore", detached: true, env: { ...process.env, LOG_LEVEL: "error" } });
    p.on("error", (err) => reject(new NetworkCommandError(`wireguard-go: ${err.message} (install wireguard-go)`)));
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new NetworkCommandError(`wireguard-go ${name} exited with ${code}`))));
  });
  if (!(await linkExists(name))) throw new NetworkCommandError(`wireguard-go did not create ${name}`);
}

/** Brings the tunnel interface up (made when missing) with the host's key, port, tunnel address and MTU. */
export async function bringUpMesh(
  name: string,
  o: { keys: MeshKeys; port: number; address: string; prefix: number; mtu: number },
): Promise<void> {
  if (!(await linkExists(name))) await createInterface(name);
  await wg(["set", name, "private-key", o.keys.privateKeyFile, "listen-port", String(o.port)]);
  const current = JSON.parse(await ip(["-j", "-4", "addr", "show", "dev", name])) as Array<{
    addr_info?: Array<{ local?: string; prefixlen?: number }>;
  }>;
  // A tunnel address the control plane no longer gives this host goes.
  const stale = (current[0]?.addr_info ?? []).filter((a) => a.local !== o.address || a.prefixlen !== o.prefix);
  await ipBatch([
    ...stale.map((a) => `addr del ${a.local}/${a.prefixlen} dev ${name}`),
    `addr replace ${o.address}/${o.prefix} dev ${name}`,
    `link set ${name} mtu ${o.mtu} up`,
  ]);
}

/**
 * Makes the interface's peers exactly `peers` (the other hosts): each allowed its tunnel address
 * only, at its underlay endpoint. Only what differs is written, so live sessions are not reset.
 */
export async function programMesh(name: string, peers: readonly MeshPeer[]): Promise<void> {
  // `wg show dump`: the interface's line, then per peer: key, psk, endpoint, allowed-ips, handshake, rx, tx, keepalive.
  const lines = (await wg(["show", name, "dump"])).trim().split("\n").slice(1).filter(Boolean);
  const have = new Map(
    lines.map((l) => {
      const [key, , endpoint, allowed] = l.split("\t");
      return [key!, { endpoint: endpoint ?? "", allowed: allowed ?? "" }];
    }),
  );
  const want = new Map(peers.map((p) => [p.publicKey, p]));
  const args: string[] = [];
  for (const [key, p] of want) {
    const h = have.get(key);
    if (h && h.endpoint === `${p.endpoint}:${p.port}` && h.allowed === `${p.address}/32`) continue;
    args.push("peer", key, "endpoint", `${p.endpoint}:${p.port}`, "allowed-ips", `${p.address}/32`);
  }
  for (const key of have.keys()) if (!want.has(key)) args.push("peer", key, "remove");
  if (args.length) await wg(["set", name, ...args]);
}

/** Removes the interface (wireguard-go exits with it). */
export async function tearDownMesh(name: string): Promise<void> {
  await ip(["link", "del", "dev", name]).catch(() => undefined);
}
