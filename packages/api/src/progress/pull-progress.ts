import { EventEmitter } from "node:events";
import type { PulledImage, PullProgress as PullProgressItem } from "@berth/protocol";

/**
 * Progress of pulls under way in this process, by the id the client picked for its pull. The pull
 * itself is a mutation (a cross-site link cannot start one); a client that wants a live progress
 * bar subscribes to its id. Nothing is kept: a subscriber sees what happens after it subscribed.
 */
export type PullEvent = { done: false; progress: PullProgressItem } | { done: true; image: PulledImage } | { done: true; error: string };

/** Subscribers per pull and pulls followed at once: a bound on what clients can make this process hold. */
const MAX_WATCHERS_PER_PULL = 8;
const MAX_WATCHED = 1000;

export class PullProgress {
  private readonly emitter = new EventEmitter();
  private readonly watchers = new Map<string, number>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(key: string, event: PullEvent): void {
    if (this.watchers.has(key)) this.emitter.emit(key, event);
  }

  /** Calls `fn` with the pull's events until the returned function is called. Throws when over the bounds. */
  watch(key: string, fn: (e: PullEvent) => void): () => void {
    const n = this.watchers.get(key) ?? 0;
    if (n >= MAX_WATCHERS_PER_PULL) throw new Error("too many watchers for this pull");
    if (n === 0 && this.watchers.size >= MAX_WATCHED) throw new Error("too many pulls watched at once");
    this.watchers.set(key, n + 1);
    this.emitter.on(key, fn);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.emitter.off(key, fn);
      const left = (this.watchers.get(key) ?? 1) - 1;
      if (left > 0) this.watchers.set(key, left);
      else this.watchers.delete(key);
    };
  }
}

export const pullProgress = new PullProgress();
