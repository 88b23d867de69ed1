import { z } from "zod";
import type { HostStatusEvent } from "../agent-gateway.ts";
import { Leadership } from "../leader.ts";
import { Reconciler, type ReconcilerOptions } from "./reconciler.ts";
import { SERVICES_CHANNEL } from "./service-store.ts";

/** Where a process tells the leading one that a host came online or went offline (its sweep, or its own agents). */
export const HOST_STATUS_CHANNEL = "berth_host_status";
const HostStatusSchema = z.object({ hostId: z.string().max(64), status: z.enum(["online", "offline"]) });

/*
 * Runs the reconciler on whichever control-plane process leads: each process asks for the
 * `reconciler` lock; the one holding it reconciles, hears other processes' NOTIFYs about changed
 * services, and stops the moment its lock connection goes. Another process then takes over
 * within a second or so and carries on from what Postgres holds.
 */
export class ServiceOrchestrator {
  readonly leadership: Leadership;
  private reconciler: Reconciler | null = null;

  private readonly detach: () => void;

  constructor(o: ReconcilerOptions & { connectionString: string; leaderRetryMs?: number }) {
    this.leadership = new Leadership({
      connectionString: o.connectionString,
      name: "reconciler",
      logger: o.logger,
      listen: [SERVICES_CHANNEL, HOST_STATUS_CHANNEL],
      ...(o.leaderRetryMs !== undefined ? { retryMs: o.leaderRetryMs } : {}),
    });
    this.leadership.on("elected", () => {
      // Its writes are fenced: should another process be elected while this one still runs, they are refused.
      this.reconciler = new Reconciler({ ...o, db: this.leadership.fenced(o.db) });
      this.reconciler.start();
    });
    this.leadership.on("deposed", () => {
      const r = this.reconciler;
      this.reconciler = null;
      void r?.stop();
    });
    const changed = (serviceId: string, teamId?: string) => {
      if (serviceId === "*") void this.reconciler?.everythingChanged().catch((err) => o.logger.error({ err }, "reconciler: resync failed"));
      else this.reconciler?.specChanged(serviceId, teamId);
    };
    this.leadership.on("notification", (channel, payload) => {
      if (channel === HOST_STATUS_CHANNEL) {
        const parsed = HostStatusSchema.safeParse(jsonOf(payload));
        if (parsed.success) this.reconciler?.statusElsewhere(parsed.data);
        return;
      }
      changed(payload);
    });
    // A change made in this process reaches its own reconciler without Postgres's round trip.
    o.store.on("changed", changed);
    const forwardStatus = (e: HostStatusEvent) => {
      if (this.leadership.isLeader) return;
      o.db.$executeRaw`select pg_notify(${HOST_STATUS_CHANNEL}, ${JSON.stringify({ hostId: e.hostId, status: e.status })})`.catch(
        (err: unknown) => o.logger.warn({ err, hostId: e.hostId }, "host status not passed to the leader; its resync will see it"),
      );
    };
    o.gateway.on("status", forwardStatus);
    this.detach = () => {
      o.store.off("changed", changed);
      o.gateway.off("status", forwardStatus);
    };
  }

  start(): void {
    this.leadership.start();
  }

  async stop(): Promise<void> {
    this.detach();
    await this.leadership.stop();
    await this.reconciler?.stop();
    this.reconciler = null;
  }
}

/** A NOTIFY payload's JSON; undefined (refused by its schema) when it is not JSON. */
function jsonOf(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}
