import type { Db } from "@berth/db";
import type { AgentRequestParsed, MeshPeer } from "@berth/protocol";
import { conflict, isUniqueViolation } from "../errors.ts";
import { formatIp4, lowestFreeAddress, MESH_SUBNET, parseIp4 } from "./addressing.ts";

/*
 * The WireGuard mesh under encrypted overlay networks. Each agent makes its own key pair and
 * reports only the public key (with where it listens); here it gets a tunnel address from
 * MESH_SUBNET, unique across the install under Postgres's uniqueness, kept for as long as the host
 * exists. Hosts of an encrypted network get the records of the others with endpoints on it.
 */

export interface MeshRegistration {
  address: string;
  prefix: number;
  /** Whether the key or the endpoint differs from what was recorded (the host's peers must learn it). */
  changed: boolean;
}

export async function registerMeshPeer(db: Db, hostId: string, req: AgentRequestParsed<"overlay.mesh">): Promise<MeshRegistration> {
  const prefix = MESH_SUBNET.prefix;
  const existing = await db.meshPeer.findUnique({ where: { hostId } });
  if (existing) {
    const changed = existing.publicKey !== req.publicKey || existing.endpoint !== req.endpoint || existing.port !== req.port;
    if (changed) await update(db, hostId, req);
    return { address: existing.address, prefix, changed };
  }
  // The lowest free tunnel address; two hosts registering at once retry with the next.
  for (let attempt = 0; attempt < 8; attempt++) {
    const used = new Set((await db.meshPeer.findMany({ select: { address: true } })).map((p) => parseIp4(p.address)!));
    const ip = lowestFreeAddress(MESH_SUBNET, MESH_SUBNET.base, used);
    if (ip === null) throw conflict("the encryption mesh has no tunnel address left");
    try {
      await db.meshPeer.create({
        data: { hostId, publicKey: req.publicKey, endpoint: req.endpoint, port: req.port, address: formatIp4(ip) },
      });
      return { address: formatIp4(ip), prefix, changed: true };
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      await rejectForeignKey(db, hostId, req.publicKey);
      const mine = await db.meshPeer.findUnique({ where: { hostId } });
      if (mine) return { address: mine.address, prefix, changed: true };
    }
  }
  throw conflict("could not allocate a tunnel address: too many hosts registered at once; try again");
}

async function update(db: Db, hostId: string, req: AgentRequestParsed<"overlay.mesh">): Promise<void> {
  try {
    await db.meshPeer.update({ where: { hostId }, data: { publicKey: req.publicKey, endpoint: req.endpoint, port: req.port } });
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    await rejectForeignKey(db, hostId, req.publicKey);
    throw e;
  }
}

/** A public key is one host's: another host presenting it is refused (it would receive that host's traffic). */
async function rejectForeignKey(db: Db, hostId: string, publicKey: string): Promise<void> {
  const holder = await db.meshPeer.findUnique({ where: { publicKey }, select: { hostId: true } });
  if (holder && holder.hostId !== hostId) throw conflict("this WireGuard public key is registered by another host");
}

/** The mesh records of the given hosts (those that have registered). */
export async function meshPeersOf(db: Db, hostIds: readonly string[]): Promise<MeshPeer[]> {
  if (!hostIds.length) return [];
  const rows = await db.meshPeer.findMany({ where: { hostId: { in: [...hostIds] } }, orderBy: { address: "asc" } });
  return rows.map((r) => ({ hostId: r.hostId, publicKey: r.publicKey, address: r.address, endpoint: r.endpoint, port: r.port }));
}
