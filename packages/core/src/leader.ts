import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "./logger.ts";

/*
 * Leadership among control-plane processes for one job (the reconciler, the offline sweep, …):
 * whoever holds a Postgres session advisory lock leads. The lock lives on a connection of its
 * own, so it goes when the process or its connection does, and another process that keeps asking
 * takes over within `retryMs`. A leader checks its connection every `retryMs` too: a connection
 * that died took the lock with it, and the job must stop before another process starts it.
 */

export interface LeaderOptions {
  connectionString: string;
  /** The job's name; its lock key is hashtext('berth:leader:<name>'). */
  name: string;
  logger: Logger;
  retryMs?: number;
  /**
   * Postgres NOTIFY channels the leader hears on its connection (as `notification` events):
   * how other processes tell the leader that something changed, without waiting for a resync.
   */
  listen?: readonly string[];
}

export class Leadership extends EventEmitter<{ elected: []; deposed: []; notification: [channel: string, payload: string] }> {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private stopped = false;
  private busy = false;

  constructor(private readonly o: LeaderOptions) {
    super();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.retryMs ?? 1000);
    this.timer.unref();
  }

  /** Gives up leadership (the lock goes with the connection) and stops asking. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.drop();
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.leading) {
        // Still connected, so still holding the lock.
        await this.client!.query("select 1");
        return;
      }
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.o.connectionString, application_name: `berth-leader-${this.o.name}` });
        client.on("error", () => void this.drop());
        client.on("notification", (n) => {
          if (this.leading) this.emit("notification", n.channel, n.payload ?? "");
        });
        await client.connect();
        this.client = client;
      }
      const r = await this.client.query<{ ok: boolean }>("select pg_try_advisory_lock(hashtext($1)) as ok", [
        `berth:leader:${this.o.name}`,
      ]);
      if (r.rows[0]?.ok && !this.stopped) {
        for (const channel of this.o.listen ?? []) await this.client.query(`listen ${pg.escapeIdentifier(channel)}`);
        this.leading = true;
        this.o.logger.info({ job: this.o.name }, "leading");
        this.emit("elected");
      }
    } catch (err) {
      this.o.logger.warn({ err, job: this.o.name }, "leadership check failed");
      await this.drop();
    } finally {
      this.busy = false;
    }
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (this.leading) {
      this.leading = false;
      // Stepping down at shutdown is the plan; losing the lock's connection is news.
      if (!this.stopped) this.o.logger.warn({ job: this.o.name }, "no longer leading");
      this.emit("deposed");
    }
    await client?.end().catch(() => undefined);
  }
}
