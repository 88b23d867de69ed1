import { EventEmitter } from "node:events";
import pg from "pg";
import { z } from "zod";
import type { Db } from "@berth/db";
import type { HostEvent } from "@berth/protocol";
import type { AgentGateway, AgentStream, HostStatusEvent, LinkedHost } from "./agent-gateway.ts";
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

/** Where a process says it stored new events of a host: `{replica, hostId, stream, from, to}` (the rows are in host_event). */
export const HOST_EVENTS_CHANNEL = "berth_host_events";
const StoredNoticeSchema = z.object({
  replica: z.string().max(64),
  hostId: z.string().max(64),
  stream: z.string().max(64),
  from: z.number().int().nonnegative(),
  to: z.number().int().nonnegative(),
});

/** A kept event's row, read back as the agent sent it. */
interface HostEventRow {
  seq: bigint;
  type: string;
  action: string;
  actorId: string;
  attributes: unknown;
  time: Date;
}

export interface FleetEventsOptions {
  /** Called after events were queued, so deliveries go out without waiting for the next tick. */
  queued?: () => void;
  /** This process (its notices are not read back) and the database to hear other processes' on. */
  replicaId?: string;
  connectionString?: string;
}

/**
 * The control plane's view of what happens on its hosts. It follows the events stream of every
 * agent linked to this process, asking for what is past the last event kept for the host; each
 * batch is stored in host_event (a repeat after a re-link is dropped by host, numbering and
 * sequence), and in the same transaction queued for the webhooks that subscribe to it, then
 * acknowledged to the agent, which forgets it. Only new events are told: to this process's
 * listeners (the live feed, the reconciler), and by NOTIFY to the other processes, which read
 * them from Postgres and tell theirs. So every listener on every process hears each event once.
 */
export class FleetEvents extends EventEmitter<{ event: [string, FleetEvent] }> {
  private readonly streams = new Map<string, AgentStream<"events">>();
  private listener: pg.Client | null = null;
  private stopped = false;
  private readonly onConnected = (hostId: string, host: LinkedHost) => this.follow(hostId, host);
  private readonly onStatus = (e: HostStatusEvent) =>
    void this.record(e.hostId, e.status === "online" ? "host.online" : "host.offline", {}).catch((err) =>
      this.log.error({ err }, "host event not recorded"),
    );

  constructor(
    private readonly db: Db,
    private readonly gateway: AgentGateway,
    private readonly log: Logger,
    private readonly o: FleetEventsOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
  }

  start(): void {
    this.stopped = false;
    this.gateway.on("connected", this.onConnected);
    this.gateway.on("status", this.onStatus);
    if (this.o.connectionString) void this.listen();
  }

  stop(): void {
    this.stopped = true;
    this.gateway.off("connected", this.onConnected);
    this.gateway.off("status", this.onStatus);
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    void this.listener?.end().catch(() => undefined);
    this.listener = null;
  }

  /** Deletes kept events older than `maxAgeMs` (run by one process, with the stats retention). */
  async prune(maxAgeMs = 7 * 24 * 3600_000): Promise<number> {
    const r = await this.db.hostEvent.deleteMany({ where: { receivedAt: { lt: new Date(Date.now() - maxAgeMs) } } });
    return r.count;
  }

  /** The last `limit` kept events of these hosts, oldest first (the events page opens with them). */
  async recent(hostIds: readonly string[], limit = 200): Promise<Array<{ hostId: string; event: FleetEvent }>> {
    if (hostIds.length === 0) return [];
    const rows = await this.db.hostEvent.findMany({
      where: { hostId: { in: [...hostIds] } },
      orderBy: { id: "desc" },
      take: limit,
    });
    return rows.reverse().map((r) => ({ hostId: r.hostId, event: eventOfRow(r) }));
  }

  /** Follows a host's events from the last one kept (as the hello read it). */
  private follow(hostId: string, kept: Pick<LinkedHost, "eventStream" | "eventSeq">): void {
    this.streams.get(hostId)?.close();
    this.streams.delete(hostId);
    // One batch at a time, in order; credit goes back once a batch is stored, so a slow database
    // slows the agent's sending (its outbox keeps the rest), not our memory.
    let chain: Promise<void> = Promise.resolve();
    let stream: AgentStream<"events">;
    try {
      stream = this.gateway.openStream(
        hostId,
        "events",
        { after: kept.eventSeq, ...(kept.eventStream ? { stream: kept.eventStream } : {}) },
        4,
        {
          data: (d) => {
            chain = chain
              .then(() => this.take(hostId, d))
              .catch((err: unknown) => {
                // Not stored, so not acknowledged: the agent sends them again at the next link.
                this.log.error({ err, hostId }, "host events not stored; the host's next link resends them");
                stream.close();
              })
              .finally(() => stream.grant(1));
          },
          end: (err) => {
            if (this.streams.get(hostId) === stream) this.streams.delete(hostId);
            if (err && err.code !== "HOST_OFFLINE") this.log.warn({ hostId, err: err.message }, "host events stream ended");
          },
        },
      );
    } catch (err) {
      this.log.warn({ hostId, err }, "could not follow host events");
      return;
    }
    this.streams.set(hostId, stream);
  }

  /** One batch from a host: stored once, queued for webhooks, acknowledged, then told. */
  private async take(
    hostId: string,
    d: { events: FleetEvent[]; dropped?: number | undefined; stream?: string | undefined },
  ): Promise<void> {
    if (d.dropped) this.log.warn({ hostId, dropped: d.dropped }, "host events lost: the agent's store was full, or its reader behind");
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true, name: true } });
    if (!host) return;
    const stream = d.stream;
    if (!stream) {
      // An agent without an outbox: told as they come, nothing to store or acknowledge.
      for (const e of d.events) this.emit("event", hostId, e);
      await this.hook(this.db, host, hostId, d.events, null);
      return;
    }
    if (d.dropped) await this.record(hostId, "host.events_lost", { dropped: d.dropped });
    if (d.events.length === 0) return;
    const last = d.events.at(-1)!.seq;
    const fresh = await this.db.$transaction(async (tx) => {
      const stored = await tx.$queryRaw<Array<{ seq: bigint }>>`
        insert into host_event ("hostId", stream, seq, type, action, "actorId", attributes, time)
        select ${hostId}, ${stream}, u.s, u.t, u.a, u.i, u.at::jsonb, to_timestamp(u.tm)
        from unnest(${d.events.map((e) => e.seq)}::bigint[], ${d.events.map((e) => e.Type)}::text[],
                    ${d.events.map((e) => e.Action)}::text[], ${d.events.map((e) => e.Actor.ID)}::text[],
                    ${d.events.map((e) => JSON.stringify(e.Actor.Attributes))}::text[], ${d.events.map((e) => e.timeNano / 1e9)}::float8[])
          as u(s, t, a, i, at, tm)
        on conflict ("hostId", stream, seq) do nothing
        returning seq`;
      await tx.$executeRaw`
        update host set "eventStream" = ${stream}, "eventSeq" = ${last}
        where id = ${hostId} and ("eventStream" is distinct from ${stream} or "eventSeq" < ${last})`;
      const kept = new Set(stored.map((r) => Number(r.seq)));
      const events = d.events.filter((e) => kept.has(e.seq));
      await this.hook(tx, host, hostId, events, stream);
      return events;
    });
    this.gateway.ackEvents(hostId, stream, last);
    if (fresh.length === 0) return;
    for (const e of fresh) this.emit("event", hostId, e);
    this.o.queued?.();
    if (this.o.replicaId) {
      const notice = JSON.stringify({ replica: this.o.replicaId, hostId, stream, from: fresh[0]!.seq, to: fresh.at(-1)!.seq });
      await this.db.$executeRaw`select pg_notify(${HOST_EVENTS_CHANNEL}, ${notice})`.catch((err: unknown) =>
        this.log.warn({ err, hostId }, "other processes not told of new host events"),
      );
    }
  }

  /** Queues the events webhooks subscribe to; each carries the event's own id, the same however often the agent sent it. */
  private async hook(
    db: Parameters<typeof enqueueWebhookEvent>[0],
    host: { teamId: string; name: string },
    hostId: string,
    events: FleetEvent[],
    stream: string | null,
  ): Promise<void> {
    let queued = 0;
    for (const e of events) {
      const event = webhookEventOf(e);
      if (!event) continue;
      queued += await enqueueWebhookEvent(db, host.teamId, event, {
        host: { id: hostId, name: host.name },
        ...(stream ? { eventId: `${hostId}:${stream}:${e.seq}`, seq: e.seq } : {}),
        container: { id: e.Actor.ID, name: e.Actor.Attributes.name ?? "", image: e.Actor.Attributes.image ?? "" },
        ...(e.Actor.Attributes.exitCode !== undefined ? { exitCode: Number(e.Actor.Attributes.exitCode) } : {}),
        time: e.time,
      });
    }
    if (queued > 0 && !stream) this.o.queued?.();
  }

  private async record(hostId: string, event: WebhookEvent, data: Record<string, unknown>): Promise<void> {
    const host = await this.db.host.findUnique({ where: { id: hostId }, select: { teamId: true, name: true } });
    if (!host) return;
    if ((await enqueueWebhookEvent(this.db, host.teamId, event, { host: { id: hostId, name: host.name }, ...data })) > 0) this.o.queued?.();
  }

  /** Hears other processes' notices of stored events, and tells this process's listeners. */
  private async listen(): Promise<void> {
    if (this.stopped || !this.o.connectionString) return;
    const client = new pg.Client({ connectionString: this.o.connectionString, application_name: "berth-host-events" });
    const again = () => {
      if (this.listener === client) this.listener = null;
      void client.end().catch(() => undefined);
      if (!this.stopped) setTimeout(() => void this.listen(), 1_000).unref();
    };
    client.on("error", again);
    client.on("notification", (n) => void this.elsewhere(n.payload ?? "").catch((err) => this.log.warn({ err }, "host events not read")));
    try {
      await client.connect();
      await client.query(`listen ${HOST_EVENTS_CHANNEL}`);
      this.listener = client;
    } catch (err) {
      this.log.warn({ err }, "cannot hear other processes' host events; retrying");
      again();
    }
  }

  private async elsewhere(payload: string): Promise<void> {
    let notice: z.infer<typeof StoredNoticeSchema>;
    try {
      notice = StoredNoticeSchema.parse(JSON.parse(payload));
    } catch {
      return;
    }
    if (notice.replica === this.o.replicaId) return;
    const rows = await this.db.hostEvent.findMany({
      where: { hostId: notice.hostId, stream: notice.stream, seq: { gte: notice.from, lte: notice.to } },
      orderBy: { seq: "asc" },
    });
    for (const r of rows) this.emit("event", notice.hostId, eventOfRow(r));
  }
}

function eventOfRow(r: HostEventRow): FleetEvent {
  const ns = r.time.getTime() * 1e6;
  return {
    seq: Number(r.seq),
    Type: r.type as FleetEvent["Type"],
    Action: r.action,
    Actor: { ID: r.actorId, Attributes: (r.attributes ?? {}) as Record<string, string> },
    scope: "local",
    time: Math.floor(ns / 1e9),
    timeNano: ns,
  };
}
