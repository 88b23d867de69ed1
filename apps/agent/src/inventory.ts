// What this host holds, reported to the control plane for its fleet-wide tables: containers,
// images, networks and volumes as inventory frames (@berth/protocol), each kind in parts.
import { INVENTORY_ITEMS_PER_FRAME, type AgentFrame, type InventoryItem, type InventoryKind } from "@berth/protocol";
import type { AgentRuntime } from "./runtime.ts";

const seconds = (iso: unknown) => {
  const t = typeof iso === "string" ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? Math.max(0, Math.floor(t / 1000)) : 0;
};

export async function collectInventory(rt: AgentRuntime): Promise<Record<InventoryKind, InventoryItem[]>> {
  const containers = rt.containers.list({ all: true }).map((c) => ({
    id: c.Id,
    name: (c.Names[0] ?? "").replace(/^\//, ""),
    image: c.Image,
    state: c.State,
    created: c.Created,
  }));
  const images = (await rt.images.list()).map((i) => ({
    id: i.Id,
    name: (i.RepoTags ?? [])[0] ?? "<none>",
    image: (i.RepoTags ?? []).join(", "),
    created: Number(i.Created ?? 0),
    size: Number(i.Size ?? 0),
  }));
  const networks = (rt.networks?.list() ?? []).map((n) => ({
    id: String(n.Id),
    name: String(n.Name),
    image: String(n.Driver ?? ""),
    created: seconds(n.Created),
  }));
  const volumes = rt.volumes.list().map((v) => ({ id: v.Name, name: v.Name, image: v.Driver, created: seconds(v.CreatedAt) }));
  return { container: containers, image: images, network: networks, volume: volumes };
}

/** Frames for the kinds whose content changed since `sent` (kind → JSON), which is updated. */
export function inventoryFrames(inv: Record<InventoryKind, InventoryItem[]>, sent: Map<string, string>): AgentFrame[] {
  const frames: AgentFrame[] = [];
  for (const [kind, items] of Object.entries(inv) as Array<[InventoryKind, InventoryItem[]]>) {
    const json = JSON.stringify(items);
    if (sent.get(kind) === json) continue;
    sent.set(kind, json);
    const parts = Math.max(1, Math.ceil(items.length / INVENTORY_ITEMS_PER_FRAME));
    for (let p = 0; p < parts; p++) {
      frames.push({
        type: "inventory",
        kind,
        part: p,
        last: p === parts - 1,
        items: items.slice(p * INVENTORY_ITEMS_PER_FRAME, (p + 1) * INVENTORY_ITEMS_PER_FRAME) as never,
      });
    }
  }
  return frames;
}
