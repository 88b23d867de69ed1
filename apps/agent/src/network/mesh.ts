import type { AgentRequestAnswer, AgentRequestInput, MeshPeer } from "@berth/protocol";
import { underlayOf } from "./overlay.ts";
import {
  bringUpMesh,
  meshInterface,
  meshKeys,
  programMesh,
  tearDownMesh,
  WIREGUARD_OVERHEAD,
  WIREGUARD_PORT,
  type MeshKeys,
} from "./wireguard.ts";

/*
 * This host's part of the encryption mesh: registered with the control plane (public key and
 * underlay endpoint, for a tunnel address) before its first encrypted network comes up, the
 * tunnel interface brought up and its peers kept equal to the other hosts of the encrypted
 * networks that are up here, and taken down with the last of them.
 */

export type MeshRegister = (args: AgentRequestInput<"overlay.mesh">) => Promise<AgentRequestAnswer<"overlay.mesh">>;

export interface MeshLink {
  /** The host's tunnel address: the VTEP of its encrypted networks. */
  address: string;
  /** The tunnel interface's MTU (the underlay's less WireGuard's overhead). */
  mtu: number;
}

export class EncryptionMesh {
  private readonly name: string;
  private keys: MeshKeys | null = null;
  /** The last registration, and the underlay endpoint it was made with (a new one registers again). */
  private registered: { vtep: string; address: string; prefix: number } | null = null;
  private up: MeshLink | null = null;
  private peersKey = "";

  constructor(
    private readonly stateDir: string,
    private readonly port = WIREGUARD_PORT,
  ) {
    this.name = meshInterface(stateDir);
  }

  get interfaceName(): string {
    return this.name;
  }

  /** The tunnel, up with this host's key, address and MTU; registered first when needed. */
  async ensureUp(vtep: string, register: MeshRegister): Promise<MeshLink> {
    this.keys ??= meshKeys(this.stateDir);
    if (!this.registered || this.registered.vtep !== vtep) {
      const r = await register({ publicKey: this.keys.publicKey, endpoint: vtep, port: this.port });
      this.registered = { vtep, ...r };
    }
    const mtu = (await underlayOf(vtep)).mtu - WIREGUARD_OVERHEAD;
    const { address, prefix } = this.registered;
    if (this.up?.address !== address || this.up.mtu !== mtu) {
      this.up = null;
      await bringUpMesh(this.name, { keys: this.keys, port: this.port, address, prefix, mtu });
      this.up = { address, mtu };
      this.peersKey = "";
    }
    return this.up;
  }

  /** This host's tunnel address while the tunnel is up. */
  address(): string | null {
    return this.up?.address ?? null;
  }

  /** Makes the tunnel's peers the given hosts' records (this host's own left out). */
  async program(peers: readonly MeshPeer[]): Promise<void> {
    if (!this.up) return;
    const mine = this.up.address;
    const byKey = new Map(peers.filter((p) => p.address !== mine).map((p) => [p.publicKey, p]));
    const others = [...byKey.values()].sort((a, b) => a.address.localeCompare(b.address));
    const key = JSON.stringify(others);
    if (key === this.peersKey) return;
    this.peersKey = "";
    await programMesh(this.name, others);
    this.peersKey = key;
  }

  /** The last encrypted network went: the tunnel goes (wireguard-go exits with its interface). */
  async down(): Promise<void> {
    this.up = null;
    this.peersKey = "";
    await tearDownMesh(this.name);
  }
}
