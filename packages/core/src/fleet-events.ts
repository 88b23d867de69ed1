import { EventEmitter } from "node:events";
import type { Db } from "@berth/db";
import type { HostEvent } from "@berth/protocol";
import type { AgentGateway, AgentStream, HostStatusEvent } from "./agent-gateway.ts";
import type { Logger } from "./logger.ts";
import { enqueueWebhookEvent, type WebhookEvent } from "./webhooks.ts";

/** One agent event as it comes down an events stream, checked (Docker's shape, see HostEventSchema). */
export type FleetEvent = HostEvent;

/** Which agent events webhooks hear about, and under what name. */
function webhookEventOf(e: FleetEvent): WebhookEvent | null {
  if (e.Type !== "container") return null;
  if (e.Action === "die") return "container.die";
  if (e.Action === "oom") return "container.oom";
  if (e.Action === "health_status: unhealthy") return "container.unhealthy";
  return null;
}

/**
 * The control plane's view of what happens on its hosts: it follows every linked agent's events
 * stream and the gateway's host status, and hands what webhooks subscribe to to their queue.
 */
export class FleetEvents extends EventEmitter<{ event: [string, FleetEvent] }> {
  private readonly streams = new Map<string, AgentStream<"events">>();
  private readonly onConnected = (hostId: string) => this.follow(hostId);
  private readonly onStatus = (e: HostStatusEvent) =>
    void this.record(e.hostId, e.status === "online" ? "host.online" : "host.offline", {}).catch((err) =>
      this.log.error({ err }, "host event not recorded"),
    );

  constructor(
    private readonly db: Db,
    private readonly gateway: AgentGateway,
    private readonly log: Logger,
    /** Called after events were queued, so deliveries go out without waiting for the next tick. */
    private readonly queued: () => void = () => undefined,
  ) {
    super();
    this.setMaxListeners(0);
  }

  start(): void {
    this.gateway.on("connected", this.onConnected);
    this.gateway.on("status", this.onStatus);
  }

  stop(): void {
    this.gateway.off("connected", this.onConnected);
    this.gateway.off("status", this.onStatus);
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
  }

  private follow(hostId: string): void {
    this.streams.get(hostId)?.close();
    try {
      const stream = this.gateway.openStream(hostId, "events", {}, 4, {
        data: (d) => {
          // The fleet-wide live feed gets every event; webhooks the ones they subscribe to.
          for (const e of d.events) this.emit("event", hostId, e);
          const hooked = d.events.flatMap((e) => {
            const event = webhookEventOf(e);
            return event ? [{ e, event }] : [];
          });
          // Credit goes back once the batch is queued: a slow database slows the agent's sending, not our memory.
          void Promise.all(
            hooked.map(({ e, event }) =>
              this.record(hostId, event, {
                container: { id: e.Actor.ID, name: e.Actor.Attributes.name ?? "", image: e.Actor.Attributes.image ?? "" },
                ...(e.Actor.Attributes.exitCode !== undefined ? { exitCode: Number(e.Actor.Attributes.exitCode) } : {}),
                time: e.time,
              }),
            ),
          )
            .catch((err) => this.log.error({ err, hostId }, "container event not recorded"))
            .finally(() => stream.grant(1));
        },
        end: (err) => {
          if (this.streams.get(hostId) === stream) this.streams.delete(hostId);
          if (err && err.code !== "HOST_OFFLINE") this.log.warn({ hostId, err: err.message }, "host events stream ended");
        },
      });
      this.streams.set(hostId, stream);
    } catch (err) {
      this.log.warn({ hostId, err }, "could not follow host events");
    }
  }

  private async record(hostId: string, event: WebhookEvent, data: Record<string, unknown>): Promise<void> {
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true, name: true } });
    if (!host) return;
    if ((await enqueueWebhookEvent(this.db, host.teamId, event, { host: { id: hostId, name: host.name }, ...data })) > 0) this.queued();
  }
}
