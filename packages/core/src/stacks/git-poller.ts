import { Leadership } from "../leader.ts";
import type { Logger } from "../logger.ts";
import type { StackStore, StackSyncResult } from "./stack-store.ts";

/*
 * Keeps git stacks current: on the one control-plane process that holds the `stack-git` lock,
 * every stack whose poll is due (its `pollSeconds` since the last read) is read again, one at a
 * time, and deployed when its files changed. Webhooks call `syncNow`, on whichever process they
 * reach: reads of one stack never overlap in a process, and a push that lands mid-read is read
 * right after it (so the newest commit always wins).
 */

const SYSTEM_ACTOR = { id: null, name: "git" } as const;

export class StackGitPoller {
  readonly leadership: Leadership;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Per stack: the read under way, and the one that follows it (every call meanwhile shares it). */
  private readonly running = new Map<string, Promise<StackSyncResult | null>>();
  private readonly queued = new Map<string, Promise<StackSyncResult | null>>();

  constructor(
    private readonly o: {
      stacks: StackStore;
      logger: Logger;
      connectionString: string;
      /** How often due stacks are looked for. */
      tickMs?: number;
      leaderRetryMs?: number;
    },
  ) {
    this.leadership = new Leadership({
      connectionString: o.connectionString,
      name: "stack-git",
      logger: o.logger,
      ...(o.leaderRetryMs !== undefined ? { retryMs: o.leaderRetryMs } : {}),
    });
  }

  start(): void {
    this.leadership.start();
    this.timer = setInterval(() => void this.poll(), this.o.tickMs ?? 15_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.leadership.stop();
    await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
  }

  /** Reads the stack now (a webhook's call); resolves when a read that began after the call is done. */
  syncNow(stackId: string, reason = "git"): Promise<StackSyncResult | null> {
    const queued = this.queued.get(stackId);
    if (queued) return queued;
    const current = this.running.get(stackId);
    if (current) {
      const next = current.then(() => {
        this.queued.delete(stackId);
        return this.syncNow(stackId, reason);
      });
      this.queued.set(stackId, next);
      return next;
    }
    const done = (async () => {
      try {
        return await this.o.stacks.sync(stackId, SYSTEM_ACTOR, { reason });
      } catch (err) {
        this.o.logger.warn({ err, stackId }, "git stack not read");
        return null;
      } finally {
        this.running.delete(stackId);
      }
    })();
    this.running.set(stackId, done);
    return done;
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.leadership.isLeader) return;
    this.polling = true;
    try {
      for (const id of await this.o.stacks.dueForPoll()) {
        if (!this.leadership.isLeader) break;
        await this.syncNow(id);
      }
    } catch (err) {
      this.o.logger.error({ err }, "git stacks not polled");
    } finally {
      this.polling = false;
    }
  }
}
