import { createHmac, randomBytes } from "node:crypto";
import { Agent, fetch as undiciFetch } from "undici";
import type { Db } from "@berth/db";
import { checkWebhookTarget, guardedLookup } from "./webhook-targets.ts";
import { DomainError, notFound } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { failureLog } from "./failure-log.ts";
import type { SecretBox } from "./secret-box.ts";

/*
 * Webhooks. An event for a team becomes one delivery row per subscribed webhook; a dispatcher
 * claims due rows (FOR UPDATE SKIP LOCKED, so replicas never send one twice), POSTs them signed
 * with HMAC-SHA256, and retries failures with exponential backoff. Every attempt's outcome stays
 * on the row: that is the delivery log.
 */

export const WEBHOOK_EVENTS = [
  "container.die",
  "container.oom",
  "container.unhealthy",
  "host.offline",
  "host.online",
  "host.events_lost",
  "ping",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Attempts before a delivery is marked failed: about 2 hours of backoff at the default base. */
export const WEBHOOK_MAX_ATTEMPTS = 8;
/** The first retry's delay; each next one doubles it (60 s → 1, 2, 4 … 64 min: 127 min in all). */
export const WEBHOOK_RETRY_BASE_MS = 60_000;

export interface WebhookView {
  id: string;
  teamId: string;
  name: string;
  url: string;
  events: string[];
  active: boolean;
  createdAt: Date;
}

const webhookSelect = { id: true, teamId: true, name: true, url: true, events: true, active: true, createdAt: true } as const;

export async function createWebhook(
  db: Db,
  box: SecretBox,
  o: { teamId: string; name: string; url: string; events: WebhookEvent[]; createdById: string | null },
): Promise<{ webhook: WebhookView; secret: string }> {
  const secret = `whsec_${randomBytes(24).toString("hex")}`;
  const webhook = await db.webhook.create({
    data: { teamId: o.teamId, name: o.name, url: o.url, events: o.events, createdById: o.createdById, secretSealed: box.seal(secret) },
    select: webhookSelect,
  });
  return { webhook, secret };
}

export function listWebhooks(db: Db, teamIds: string[]): Promise<WebhookView[]> {
  return db.webhook.findMany({ where: { teamId: { in: teamIds } }, select: webhookSelect, orderBy: { createdAt: "desc" } });
}

export async function getWebhook(db: Db, id: string): Promise<WebhookView> {
  const w = await db.webhook.findUnique({ where: { id }, select: webhookSelect });
  if (!w) throw notFound("webhook");
  return w;
}

export async function removeWebhook(db: Db, id: string): Promise<void> {
  await db.webhook.delete({ where: { id } }).catch(() => {
    throw notFound("webhook");
  });
}

export async function listDeliveries(db: Db, webhookId: string, cursor?: string, limit = 50) {
  const rows = await db.webhookDelivery.findMany({
    where: { webhookId, ...(cursor ? { id: { lt: BigInt(cursor) } } : {}) },
    orderBy: { id: "desc" },
    take: limit + 1,
  });
  const page = rows.slice(0, limit).map((r) => ({ ...r, id: r.id.toString() }));
  return { rows: page, nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
}

/** Records an event for every active webhook of the team that subscribed to it. */
export async function enqueueWebhookEvent(
  db: Pick<Db, "webhook" | "webhookDelivery">,
  teamId: string,
  event: WebhookEvent,
  data: Record<string, unknown>,
  onlyWebhookId?: string,
): Promise<number> {
  const hooks = await db.webhook.findMany({
    where: { teamId, active: true, ...(onlyWebhookId ? { id: onlyWebhookId } : { events: { has: event } }) },
    select: { id: true },
  });
  if (hooks.length === 0) return 0;
  const at = new Date();
  const r = await db.webhookDelivery.createMany({
    data: hooks.map((h) => ({ webhookId: h.id, event, payload: { event, at: at.toISOString(), data } as object })),
  });
  return r.count;
}

/** The signature a receiver checks: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

interface Claimed {
  id: bigint;
  webhookId: string;
  event: string;
  payload: unknown;
  attempts: number;
  url: string;
  secretSealed: string;
  allowlist: string[];
}

export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private readonly failures: ReturnType<typeof failureLog>;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly log: Logger,
    private readonly opts: {
      intervalMs?: number;
      backoffBaseMs?: number;
      timeoutMs?: number;
      /** Whether this process sends (one process does, under its lock); every process when absent. */
      leads?: () => boolean;
    } = {},
  ) {
    this.failures = failureLog(log, "webhook round");
  }

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.opts.intervalMs ?? 1_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Sends what is due now (one round at a time). */
  kick(): Promise<void> {
    if (this.opts.leads?.() === false) return Promise.resolve();
    this.running ??= this.round()
      .then(
        () => this.failures.ok(),
        (err: unknown) => this.failures.failed(err),
      )
      .finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    // A claimed row is pushed a minute ahead, so a replica that dies mid-send leaves it for later.
    const due = await this.db.$queryRaw<Claimed[]>`
      with c as (
        select d.id from webhook_delivery d
        where d.status = 'pending' and d."nextAttemptAt" <= now()
        order by d."nextAttemptAt", d.id limit 50 for update skip locked)
      update webhook_delivery d set "nextAttemptAt" = now() + interval '60 seconds'
      from c, webhook w, team t where d.id = c.id and w.id = d."webhookId" and t.id = w."teamId"
      returning d.id, d."webhookId", d.event, d.payload, d.attempts, w.url, w."secretSealed", t."webhookAllowlist" as allowlist`;
    // One webhook's deliveries go one after another, oldest first: a receiver sees events in order.
    const byHook = new Map<string, Claimed[]>();
    for (const d of due.sort((x, y) => (x.id < y.id ? -1 : 1))) byHook.set(d.webhookId, [...(byHook.get(d.webhookId) ?? []), d]);
    await Promise.all(
      [...byHook.values()].map(async (list) => {
        for (const d of list) await this.deliver(d);
      }),
    );
  }

  private async deliver(d: Claimed): Promise<void> {
    const body = JSON.stringify(d.payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    let status: number | null = null;
    let error: string | null = null;
    // The target is checked again now, on the address this connection will use (see webhook-targets.ts).
    const dispatcher = new Agent({ connect: { lookup: guardedLookup(d.allowlist) } });
    try {
      await checkWebhookTarget(d.url, d.allowlist);
      const res = await undiciFetch(d.url, {
        dispatcher,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Berth-Webhook/1",
          "x-berth-event": d.event,
          "x-berth-delivery": d.id.toString(),
          "x-berth-timestamp": timestamp,
          "x-berth-signature-256": signWebhook(this.box.open(d.secretSealed), timestamp, body),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (e) {
      error =
        (e as Error).cause instanceof Error ? `${(e as Error).message}: ${((e as Error).cause as Error).message}` : (e as Error).message;
    } finally {
      await dispatcher.close().catch(() => undefined);
    }
    const attempts = d.attempts + 1;
    if (!error) {
      await this.db.webhookDelivery.update({
        where: { id: d.id },
        data: { status: "ok", attempts, lastStatus: status, lastError: null, deliveredAt: new Date() },
      });
      return;
    }
    const failed = attempts >= WEBHOOK_MAX_ATTEMPTS;
    const backoff = Math.min((this.opts.backoffBaseMs ?? WEBHOOK_RETRY_BASE_MS) * 2 ** (attempts - 1), 2 * 60 * 60_000);
    await this.db.webhookDelivery.update({
      where: { id: d.id },
      data: {
        status: failed ? "failed" : "pending",
        attempts,
        lastStatus: status,
        lastError: error.slice(0, 500),
        nextAttemptAt: new Date(Date.now() + backoff),
      },
    });
    if (failed) this.log.warn({ deliveryId: d.id.toString(), webhookId: d.webhookId, error }, "webhook delivery gave up");
  }
}

/** The team's allow-list of internal webhook targets (host names, addresses, CIDRs). */
export async function webhookAllowlist(db: Db, teamId: string): Promise<string[]> {
  return (await db.team.findUnique({ where: { id: teamId }, select: { webhookAllowlist: true } }))?.webhookAllowlist ?? [];
}

/** A webhook URL: http(s), no credentials in it (they would show in lists). */
export function checkWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DomainError("INVALID", "the webhook URL is not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new DomainError("INVALID", "a webhook URL is http or https");
  if (u.username || u.password) throw new DomainError("INVALID", "put no credentials in a webhook URL; check the signature instead");
  return u.toString();
}
