import { EventEmitter } from "node:events";
import type { Db, Prisma } from "@berth/db";
import type { InventoryItem, InventoryKind } from "@berth/protocol";
import type { Logger } from "./logger.ts";

/*
 * The fleet's inventory in Postgres: each host's containers, images, networks and volumes as its
 * agent last reported them. A report replaces the host's rows of that kind in one transaction,
 * so a table never shows half of a host's list.
 */

type Parts = { items: InventoryItem[]; next: number };

/** Items one report of a kind may hold: past it the report is dropped, not held while it grows. */
export const MAX_INVENTORY_ITEMS = 50_000;

export class InventoryStore extends EventEmitter<{ containers: [hostId: string, items: InventoryItem[]] }> {
  private readonly pending = new Map<string, Parts>();
  /** Each host's containers as last reported, so stats for containers it never reported are refused. */
  private readonly containers = new Map<string, Set<string>>();
  /** Replacements per host run one after another, in arrival order. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    super();
  }

  /** Takes one inventory frame; the last part of a report replaces the host's rows of that kind. */
  take(hostId: string, f: { kind: InventoryKind; part: number; last: boolean; items: InventoryItem[] }): void {
    const key = `${hostId}/${f.kind}`;
    const parts = f.part === 0 ? { items: [], next: 0 } : this.pending.get(key);
    if (!parts || parts.next !== f.part) {
      // A part out of order (a reconnect mid-report): drop it; the agent sends all kinds anew.
      this.pending.delete(key);
      return;
    }
    if (parts.items.length + f.items.length > MAX_INVENTORY_ITEMS) {
      this.pending.delete(key);
      this.log.warn({ hostId, kind: f.kind, max: MAX_INVENTORY_ITEMS }, "inventory report too large: dropped");
      return;
    }
    parts.items.push(...f.items);
    parts.next++;
    if (!f.last) return void this.pending.set(key, parts);
    this.pending.delete(key);
    if (f.kind === "container") {
      this.containers.set(hostId, new Set(parts.items.map((i) => i.id)));
      this.emit("containers", hostId, parts.items);
    }
    const prev = this.queues.get(hostId) ?? Promise.resolve();
    const run = prev
      .then(() => this.replace(hostId, f.kind, parts.items))
      .catch((err) => this.log.error({ err, hostId, kind: f.kind }, "inventory not stored"))
      .finally(() => {
        if (this.queues.get(hostId) === run) this.queues.delete(hostId);
      });
    this.queues.set(hostId, run);
  }

  /** Whether the host's last container report named this container. */
  hasContainer(hostId: string, containerId: string): boolean {
    return this.containers.get(hostId)?.has(containerId) ?? false;
  }

  /** Resolves when every report taken so far is stored. */
  async settled(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  async replace(hostId: string, kind: InventoryKind, items: InventoryItem[]): Promise<void> {
    const rows: Prisma.InventoryItemCreateManyInput[] = items.map((i) => ({
      hostId,
      kind,
      itemId: i.id,
      name: i.name,
      image: i.image ?? "",
      state: i.state ?? "",
      created: new Date((i.created ?? 0) * 1000),
      size: BigInt(Math.round(i.size ?? 0)),
    }));
    await this.db.$transaction([
      this.db.inventoryItem.deleteMany({ where: { hostId, kind } }),
      this.db.inventoryItem.createMany({ data: rows, skipDuplicates: true }),
    ]);
  }
}

export const FLEET_SORTS = ["name", "created", "state", "host", "size"] as const;
export type FleetSort = (typeof FLEET_SORTS)[number];

export interface FleetQuery {
  kind: InventoryKind;
  /** Hosts of these teams only. */
  teamIds: string[];
  hostId?: string;
  /** Name, image or id contains this (case-insensitive). */
  q?: string;
  state?: string;
  sort: FleetSort;
  dir: "asc" | "desc";
  offset: number;
  limit: number;
}

export async function listFleet(db: Db, q: FleetQuery) {
  const text = q.q?.trim();
  const where: Prisma.InventoryItemWhereInput = {
    kind: q.kind,
    host: { teamId: { in: q.teamIds } },
    ...(q.hostId ? { hostId: q.hostId } : {}),
    ...(q.state ? { state: q.state } : {}),
    ...(text
      ? {
          OR: [
            { name: { contains: text, mode: "insensitive" } },
            { image: { contains: text, mode: "insensitive" } },
            { itemId: { startsWith: text.toLowerCase() } },
          ],
        }
      : {}),
  };
  const order: Prisma.SortOrder = q.dir;
  const orderBy: Prisma.InventoryItemOrderByWithRelationInput[] =
    q.sort === "host" ? [{ host: { name: order } }, { name: "asc" }] : [{ [q.sort]: order }, { hostId: "asc" }, { itemId: "asc" }];
  const [total, rows] = await db.$transaction([
    db.inventoryItem.count({ where }),
    db.inventoryItem.findMany({
      where,
      orderBy,
      skip: q.offset,
      take: q.limit,
      include: { host: { select: { name: true, status: true } } },
    }),
  ]);
  return {
    total,
    rows: rows.map((r) => ({
      hostId: r.hostId,
      hostName: r.host.name,
      hostStatus: r.host.status,
      id: r.itemId,
      name: r.name,
      image: r.image,
      state: r.state,
      created: r.created,
      size: Number(r.size),
    })),
  };
}

/** Hosts, containers and images whose name (or id) matches, a few of each. */
export async function globalSearch(db: Db, teamIds: string[], text: string, per = 8) {
  const t = text.trim();
  const like = { contains: t, mode: "insensitive" as const };
  const [hosts, containers, images] = await Promise.all([
    db.host.findMany({
      where: { teamId: { in: teamIds }, OR: [{ name: like }, { id: t }] },
      select: { id: true, name: true, status: true },
      take: per,
      orderBy: { name: "asc" },
    }),
    db.inventoryItem.findMany({
      where: { kind: "container", host: { teamId: { in: teamIds } }, OR: [{ name: like }, { itemId: { startsWith: t.toLowerCase() } }] },
      include: { host: { select: { name: true } } },
      take: per,
      orderBy: { name: "asc" },
    }),
    db.inventoryItem.findMany({
      where: { kind: "image", host: { teamId: { in: teamIds } }, OR: [{ image: like }, { itemId: { contains: t.toLowerCase() } }] },
      include: { host: { select: { name: true } } },
      take: per,
      orderBy: { name: "asc" },
    }),
  ]);
  const item = (r: (typeof containers)[number]) => ({
    hostId: r.hostId,
    hostName: r.host.name,
    id: r.itemId,
    name: r.name,
    state: r.state,
  });
  return { hosts, containers: containers.map(item), images: images.map(item) };
}
