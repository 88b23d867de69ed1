import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Db } from "@berth/db";
import type { Logger } from "../logger.ts";

/*
 * The control-plane processes sharing one database. Each registers itself (an id, the address
 * other processes reach it at, the hash of a secret of its own, its TLS certificate's fingerprint)
 * and beats every `beatMs`; a row whose beat is older than `forgetAfterMs` is forgotten by
 * whichever process beats next. A process proves it is a registered replica by presenting its id
 * and secret; nothing else is let onto the internal channel.
 *
 * The beat is also this process's view of Postgres: while it fails, `healthy` is false and
 * /healthz says so, so a load balancer stops sending it work.
 */

export interface ReplicaInfo {
  id: string;
  internalUrl: string;
  tlsFingerprint: string | null;
}

export interface ReplicaRegistryOptions {
  db: Db;
  logger: Logger;
  internalUrl: string;
  tlsFingerprint: string | null;
  beatMs?: number;
  forgetAfterMs?: number;
}

export class ReplicaRegistry {
  readonly id = `cp-${randomUUID()}`;
  /** Presented to other processes on the internal channel; only its hash is stored. */
  readonly secret = randomBytes(32).toString("base64url");
  private timer: NodeJS.Timeout | null = null;
  private lastBeatOk = 0;
  private readonly beatMs: number;
  private readonly forgetAfterMs: number;

  constructor(private readonly o: ReplicaRegistryOptions) {
    this.beatMs = o.beatMs ?? 2_000;
    this.forgetAfterMs = o.forgetAfterMs ?? 15_000;
  }

  /** The header value this process presents to another: `<id>:<secret>`. */
  get credential(): string {
    return `${this.id}:${this.secret}`;
  }

  /** Registers this process; it beats from then on until `stop`. */
  async start(): Promise<void> {
    await this.upsertSelf(new Date());
    this.lastBeatOk = Date.now();
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Hosts linked here are linked nowhere until their agents find another process.
    await this.o.db.host.updateMany({ where: { linkedReplicaId: this.id }, data: { linkedReplicaId: null } }).catch(() => undefined);
    await this.o.db.controlPlaneReplica.deleteMany({ where: { id: this.id } }).catch(() => undefined);
  }

  /** Whether this process's last beat reached Postgres recently (it is fit to take work). */
  get healthy(): boolean {
    return Date.now() - this.lastBeatOk < Math.max(3 * this.beatMs, 5_000);
  }

  /** One beat: this row's time, and the rows of processes that stopped beating removed. */
  async beat(): Promise<void> {
    try {
      const now = new Date();
      // A row removed while this process could not beat (a long database outage) is made again.
      await this.upsertSelf(now);
      await this.o.db.controlPlaneReplica.deleteMany({ where: { heartbeatAt: { lt: new Date(now.getTime() - this.forgetAfterMs) } } });
      if (!this.healthy) this.o.logger.info("database reachable again: taking work");
      this.lastBeatOk = Date.now();
    } catch (err) {
      if (this.healthy) this.o.logger.warn({ err }, "replica heartbeat failed");
    }
  }

  private async upsertSelf(now: Date): Promise<void> {
    await this.o.db.controlPlaneReplica.upsert({
      where: { id: this.id },
      create: {
        id: this.id,
        internalUrl: this.o.internalUrl,
        secretHash: hashOf(this.secret),
        tlsFingerprint: this.o.tlsFingerprint,
        heartbeatAt: now,
      },
      update: { heartbeatAt: now },
    });
  }

  /** A live replica by id (null when unknown or its beat stopped). */
  async lookup(id: string): Promise<ReplicaInfo | null> {
    const row = await this.o.db.controlPlaneReplica.findUnique({ where: { id } });
    if (!row || row.heartbeatAt.getTime() < Date.now() - this.forgetAfterMs) return null;
    return { id: row.id, internalUrl: row.internalUrl, tlsFingerprint: row.tlsFingerprint };
  }

  /** Every live replica, this one included. */
  async list(): Promise<ReplicaInfo[]> {
    const rows = await this.o.db.controlPlaneReplica.findMany({
      where: { heartbeatAt: { gte: new Date(Date.now() - this.forgetAfterMs) } },
      orderBy: { startedAt: "asc" },
    });
    return rows.map((r) => ({ id: r.id, internalUrl: r.internalUrl, tlsFingerprint: r.tlsFingerprint }));
  }

  /** Whether `presented` (`<id>:<secret>`) is a live registered replica's credential; its id if so. */
  async verify(presented: string): Promise<string | null> {
    const at = presented.indexOf(":");
    if (at <= 0 || presented.length > 512) return null;
    const id = presented.slice(0, at);
    const secret = presented.slice(at + 1);
    const row = await this.o.db.controlPlaneReplica.findUnique({ where: { id }, select: { secretHash: true, heartbeatAt: true } });
    if (!row || row.heartbeatAt.getTime() < Date.now() - this.forgetAfterMs) return null;
    const want = Buffer.from(row.secretHash, "hex");
    const got = Buffer.from(hashOf(secret), "hex");
    return want.length === got.length && timingSafeEqual(want, got) ? id : null;
  }
}

const hashOf = (secret: string) => createHash("sha256").update(secret).digest("hex");
