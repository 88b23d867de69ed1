import { Leadership } from "../leader.ts";
import { Reconciler, type ReconcilerOptions } from "./reconciler.ts";
import { SERVICES_CHANNEL } from "./service-store.ts";

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
      listen: [SERVICES_CHANNEL],
      ...(o.leaderRetryMs !== undefined ? { retryMs: o.leaderRetryMs } : {}),
    });
    this.leadership.on("elected", () => {
      this.reconciler = new Reconciler(o);
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
    this.leadership.on("notification", (_channel, payload) => changed(payload));
    // A change made in this process reaches its own reconciler without Postgres's round trip.
    o.store.on("changed", changed);
    this.detach = () => o.store.off("changed", changed);
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
