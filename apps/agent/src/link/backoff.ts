/**
 * Exponential backoff with full jitter: the n-th retry waits a uniform random time up to
 * min(max, base·2ⁿ). After a control-plane process dies, its agents' first tries are spread
 * evenly over `base` (1.5 s: a thousand agents come back at a few hundred a second, not all in
 * one), and each goes to the next address it knows, so most are linked again within a couple of
 * seconds and all within five.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 1_500,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    // A floor keeps a dead address from being dialled in a tight loop.
    return Math.max(50, Math.round(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
