/**
 * One state change at a time per container: start, stop, restart, kill, pause, unpause, update,
 * remove and the restart policy's launches each wait for the one before. Twenty starts at once
 * make one run; the others find it running.
 */
export class ChangeQueue {
  /** The tail of each container's queue. */
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(id) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return run;
  }
}
