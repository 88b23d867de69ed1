/*
 * A value per team that the leading reconciler keeps between passes instead of reading it from
 * Postgres for each one (Swarm's scheduler keeps its nodes and their tasks in memory the same way).
 * Whoever writes something the value derives from either amends it (what the leader itself
 * placed) or forgets it, and the next pass reads afresh. A value read while something changed is
 * used once and not kept. `refresh` (at each resync) is the backstop for changes made elsewhere.
 */
export class TeamMemo<T> {
  private readonly byTeam = new Map<string, T>();
  /** Bumped by every change: a read that overlapped one is not kept. */
  private generation = 0;

  constructor(private readonly read: (teamId: string) => Promise<T>) {}

  /** The team's value: the kept one, or read now (and kept, if nothing changed during the read). */
  async of(teamId: string): Promise<T> {
    if (this.byTeam.has(teamId)) return this.byTeam.get(teamId)!;
    const generation = this.generation;
    const value = await this.read(teamId);
    if (generation === this.generation) this.byTeam.set(teamId, value);
    return value;
  }

  /** Something it derives from changed: forget every team's. */
  forget(): void {
    this.generation++;
    this.byTeam.clear();
  }

  /** A change the caller knows exactly: applied to the kept value (none kept: nothing to do). */
  amend(teamId: string, change: (value: T) => T): void {
    if (!this.byTeam.has(teamId)) return;
    this.generation++; // a read in flight may not have seen it
    this.byTeam.set(teamId, change(this.byTeam.get(teamId)!));
  }

  /** Reads these teams' values (and every kept one) again; one that raced a change is dropped, not kept. */
  async refresh(teamIds: readonly string[] = []): Promise<void> {
    for (const teamId of new Set([...this.byTeam.keys(), ...teamIds])) {
      const generation = this.generation;
      const value = await this.read(teamId);
      if (generation === this.generation) this.byTeam.set(teamId, value);
      else this.byTeam.delete(teamId);
    }
  }
}

/** Active tasks (wanted running, not ended) of one service version on one host. */
export interface ActiveCount {
  hostId: string;
  serviceId: string;
  version: number;
  n: number;
}

/** `counts` with `perHost` more tasks of one service version. */
export function withPlaced(
  counts: readonly ActiveCount[],
  serviceId: string,
  version: number,
  perHost: ReadonlyMap<string, number>,
): ActiveCount[] {
  const next = [...counts];
  const ofThis = new Map<string, number>();
  next.forEach((c, i) => {
    if (c.serviceId === serviceId && c.version === version) ofThis.set(c.hostId, i);
  });
  for (const [hostId, n] of perHost) {
    const at = ofThis.get(hostId);
    if (at !== undefined) next[at] = { ...next[at]!, n: next[at]!.n + n };
    else next.push({ hostId, serviceId, version, n });
  }
  return next;
}
