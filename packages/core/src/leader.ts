import { EventEmitter } from "node:events";
import pg from "pg";
import type { Db } from "@berth/db";
import { FencedError, rawSqlState } from "./errors.ts";
import type { Logger } from "./logger.ts";

/*
 * Leadership among control-plane processes for one job (the reconciler, the offline sweep, …):
 * whoever holds a Postgres session advisory lock leads. The lock lives on a connection of its
 * own, so it goes when the process or its connection does, and another process that keeps asking
 * takes over within `retryMs`. A leader checks its connection every `retryMs` too: a connection
 * that died took the lock with it, and the job must stop before another process starts it.
 *
 * That check is not enough on its own: a leader whose connection is cut without it noticing (a
 * stalled network) keeps working while Postgres has already handed the lock to another process.
 * So each election raises the job's term in `leader_term`, and the leader's writes go through
 * `fenced(db)`: each runs in a transaction that first holds the term row (`berth_fence`), and
 * Postgres refuses it once the term is over. The new leader's raise waits for any such write to
 * commit, so the old leader's writes all land before the new term starts, or not at all.
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
  /** How long a query on the lock's connection may take before the connection counts as lost. */
  checkTimeoutMs?: number;
}

/** Prisma operations that write (and raw SQL, which may), run behind the fence. */
const FENCED_OPERATIONS = new Set([
  "create",
  "createMany",
  "createManyAndReturn",
  "update",
  "updateMany",
  "updateManyAndReturn",
  "upsert",
  "delete",
  "deleteMany",
  "$executeRaw",
  "$executeRawUnsafe",
  "$queryRaw",
  "$queryRawUnsafe",
]);

export class Leadership extends EventEmitter<{ elected: []; deposed: []; notification: [channel: string, payload: string] }> {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private stopped = false;
  private busy = false;
  /** The term this process leads in (raised at its election); null when it does not lead. */
  private term: bigint | null = null;
  private electedAt = 0;

  constructor(private readonly o: LeaderOptions) {
    super();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** How long this process has led without a break (0 when it does not). */
  get leadingForMs(): number {
    return this.leading ? Date.now() - this.electedAt : 0;
  }

  /**
   * `db` for the job's writes: each runs after `berth_fence` in one transaction, and is refused
   * (FencedError, and this process steps down) once another process has been elected.
   */
  fenced(db: Db): Db {
    const job = this.o.name;
    const current = () => this.term;
    const refused = () => {
      this.o.logger.warn({ job }, "a write was fenced off: another process leads now");
      void this.drop();
      return new FencedError(job);
    };
    const client = db.$extends({
      name: `fence:${job}`,
      query: {
        async $allOperations({ operation, args, query }) {
          if (!FENCED_OPERATIONS.has(operation)) return query(args);
          const term = current();
          if (term === null) throw refused();
          try {
            const [, result] = await db.$transaction([db.$executeRaw`select berth_fence(${job}, ${term})`, query(args)]);
            return result;
          } catch (e) {
            throw rawSqlState(e) === "BF001" ? refused() : e;
          }
        },
      },
    });
    // The extension changes no method's types; Prisma's extended client type just is not the base's.
    return client as unknown as Db;
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
        const client = new pg.Client({
          connectionString: this.o.connectionString,
          application_name: `berth-leader-${this.o.name}`,
          // A connection that stalls (rather than closes) is lost too.
          query_timeout: this.o.checkTimeoutMs ?? 5_000,
          connectionTimeoutMillis: this.o.checkTimeoutMs ?? 5_000,
        });
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
        // A new term, on the lock's own connection: it waits for the last leader's fenced writes.
        const raised = await this.client.query<{ term: string }>(
          `insert into leader_term (job, term) values ($1, 1)
           on conflict (job) do update set term = leader_term.term + 1, "electedAt" = now() returning term`,
          [this.o.name],
        );
        this.term = BigInt(raised.rows[0]!.term);
        for (const channel of this.o.listen ?? []) await this.client.query(`listen ${pg.escapeIdentifier(channel)}`);
        this.leading = true;
        this.electedAt = Date.now();
        this.o.logger.info({ job: this.o.name, term: String(this.term) }, "leading");
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
    this.term = null;
    if (this.leading) {
      this.leading = false;
      // Stepping down at shutdown is the plan; losing the lock's connection is news.
      if (!this.stopped) this.o.logger.warn({ job: this.o.name }, "no longer leading");
      this.emit("deposed");
    }
    await client?.end().catch(() => undefined);
  }
}
