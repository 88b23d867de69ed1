import type { AgentGateway } from "../agent-gateway.ts";
import type { Logger } from "../logger.ts";
import type { OverlayStore } from "./overlay-store.ts";

/*
 * Keeps every linked host's view of the overlay networks current: on link, the team's networks
 * in full; on each change of a network, its state (with every endpoint) to the hosts with an
 * endpoint on it, and its definition to the others. Each message replaces what the host had for
 * that network, so the last one sent is always the truth; changes that come during a push are
 * coalesced into one more push.
 *
 * Hosts linked to another control-plane process are that process's to update (issue: routed
 * commands between replicas); a host always gets its networks in full when it links.
 */
export class OverlaySync {
  /** Networks to push, with who waits for each push. */
  private readonly dirty = new Map<string, Array<() => void>>();
  private pushing: Promise<void> | null = null;

  constructor(private readonly o: { store: OverlayStore; gateway: AgentGateway; logger: Logger }) {}

  /**
   * The answer to a container's join waits until every linked host of the team has the network's
   * new state (at most `capMs`): a container that starts can be reached at once from every host,
   * even at an address that was another host's a moment ago.
   */
  async settled(networkId: string, capMs = 3_000): Promise<void> {
    await Promise.race([this.pushSoon(networkId), new Promise((r) => setTimeout(r, capMs).unref())]);
  }

  start(): void {
    this.o.store.on("changed", (id) => void this.pushSoon(id));
    this.o.store.on("removed", (id, teamId) => void this.pushRemoval(id, teamId));
    this.o.gateway.on("connected", (hostId, host) => void this.pushFull(hostId, host.teamId));
  }

  /**
   * Pushes the network's state soon. Resolves once a push made after this call has reached every
   * linked host (or failed for one), so a caller can wait for the fleet to know a new endpoint.
   */
  pushSoon(networkId: string): Promise<void> {
    return new Promise((resolve) => {
      this.dirty.set(networkId, [...(this.dirty.get(networkId) ?? []), resolve]);
      this.pushing ??= this.drain().finally(() => {
        this.pushing = null;
      });
    });
  }

  /** A service was created, changed or removed: the overlay networks of its team push again (their service lists). */
  async serviceChanged(serviceId: string): Promise<void> {
    try {
      for (const id of await this.o.store.networksOfServiceTeam(serviceId)) void this.pushSoon(id);
    } catch (err) {
      this.o.logger.warn({ err, serviceId }, "overlay push for a service failed");
    }
  }

  private async drain(): Promise<void> {
    while (this.dirty.size) {
      const [id, waiters] = this.dirty.entries().next().value!;
      this.dirty.delete(id);
      await this.pushNetwork(id).catch((err) => this.o.logger.warn({ err, networkId: id }, "overlay network push failed"));
      for (const w of waiters) w();
    }
  }

  /** A network's state to every linked host of its team: endpoints to those with one on it. */
  private async pushNetwork(networkId: string): Promise<void> {
    const withEndpoints = await this.o.store.state(networkId, true);
    if (!withEndpoints) return;
    const on = new Set((withEndpoints.endpoints ?? []).map((e) => e.hostId));
    const linked = (await this.o.store.teamHosts(networkId)).filter((h) => this.o.gateway.isConnected(h));
    // Hosts with no endpoint there get the network without its endpoints (read only when there are such hosts).
    const bare = linked.some((h) => !on.has(h)) ? await this.o.store.state(networkId, false) : null;
    await Promise.all(
      linked.map((h) => {
        const state = on.has(h) ? withEndpoints : bare;
        if (!state) return Promise.resolve();
        return this.o.gateway
          .command(h, "overlay.sync", { full: false, networks: [state] })
          .catch((err) => this.o.logger.warn({ err, hostId: h, networkId }, "overlay sync to host failed"));
      }),
    );
  }

  private async pushRemoval(networkId: string, teamId: string): Promise<void> {
    const hosts = await this.o.store.hostsOfTeam(teamId);
    await Promise.all(
      hosts
        .filter((h) => this.o.gateway.isConnected(h))
        .map((h) => this.o.gateway.command(h, "overlay.sync", { full: false, networks: [], removed: [networkId] }).catch(() => undefined)),
    );
  }

  private async pushFull(hostId: string, teamId: string): Promise<void> {
    try {
      const networks = await this.o.store.statesForHost(hostId, teamId);
      // A team without overlay networks costs its hosts' links nothing (an agent forgets networks at restart).
      if (networks.length === 0) return;
      await this.o.gateway.command(hostId, "overlay.sync", { full: true, networks });
    } catch (err) {
      this.o.logger.warn({ err, hostId }, "overlay sync at link failed");
    }
  }
}
