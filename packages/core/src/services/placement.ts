import { type Constraint, failedConstraint, type HostAttributes, normalArch } from "./constraints.ts";

/*
 * The scheduler's placement step, a pure function of what it is shown: filter the hosts a task may
 * run on, then order them, as Swarm does:
 *   filter: online, availability active, constraints, room for the reservations (CPU, memory),
 *           no host-mode port already taken, a platform the image has, maxReplicasPerHost;
 *   order:  hosts that failed this service's tasks repeatedly lately sink; then spread
 *           preferences (fewest of the service's tasks under the host's label value); then fewest
 *           tasks of this service; then fewest tasks overall; then name, so a result is repeatable.
 * Tasks are placed one at a time and each placement counts for the next, so a batch spreads. A
 * task nothing fits stays pending with Swarm-style reasons ("constraints not satisfied on 2 hosts").
 */

export interface HostCandidate {
  attrs: HostAttributes;
  online: boolean;
  availability: "active" | "pause" | "drain";
  /** What the host has: nanoCPUs (cores × 1e9) and bytes of memory. */
  capacity: { nanoCpus: number; memoryBytes: number };
  /** Reservations of the tasks already assigned there, every service's. */
  reserved: { nanoCpus: number; memoryBytes: number };
  /** Tasks assigned there, every service's. */
  tasks: number;
  /** Tasks of the service being placed that are assigned there. */
  serviceTasks: number;
  /** Host-mode published ports in use there ("8080/tcp"). */
  hostPorts: ReadonlySet<string>;
  /** This service's tasks that failed there within the failure window. */
  recentFailures: number;
}

export interface PlacementRequest {
  constraints: readonly Constraint[];
  /** Label keys to spread over, highest precedence first (from `node.labels.<key>`). */
  spreadOver: readonly string[];
  maxReplicasPerHost: number;
  reservations: { nanoCpus?: number | undefined; memoryBytes?: number | undefined };
  /** Host-mode ports each task publishes at a fixed number ("8080/tcp"). */
  hostPorts: readonly string[];
  /** Platforms the image exists for; undefined when not known (any host will try). */
  platforms?: readonly { os: string; arch: string }[] | undefined;
}

/** Failures of one service on one host within the window that make the host sink (Swarm: 5 in 5 minutes). */
export const FAILURES_TO_SINK = 5;
export const FAILURE_WINDOW_MS = 5 * 60 * 1000;

type Refusal = "offline" | "unavailable" | "constraints" | "resources" | "ports" | "platform" | "max-replicas";

const REFUSAL_TEXT: Record<Refusal, string> = {
  offline: "offline",
  unavailable: "paused or drained",
  constraints: "scheduling constraints not satisfied",
  resources: "insufficient resources",
  ports: "host-mode port already in use",
  platform: "unsupported platform",
  "max-replicas": "max replicas per host reached",
};

/** Why `host` cannot take tasks of the request at all, whatever is placed on it. */
function staticRefusal(req: PlacementRequest, host: HostCandidate): Refusal | undefined {
  if (!host.online) return "offline";
  if (host.availability !== "active") return "unavailable";
  if (failedConstraint(req.constraints, host.attrs)) return "constraints";
  if (req.platforms?.length && !req.platforms.some((p) => p.os === host.attrs.os && normalArch(p.arch) === normalArch(host.attrs.arch)))
    return "platform";
  return undefined;
}

/** Why `host` has no room for one more task; only ever gets worse as tasks land on it. */
function roomRefusal(req: PlacementRequest, host: HostCandidate): Refusal | undefined {
  if (req.maxReplicasPerHost > 0 && host.serviceTasks >= req.maxReplicasPerHost) return "max-replicas";
  const cpu = req.reservations.nanoCpus ?? 0;
  const mem = req.reservations.memoryBytes ?? 0;
  if (host.reserved.nanoCpus + cpu > host.capacity.nanoCpus || host.reserved.memoryBytes + mem > host.capacity.memoryBytes)
    return "resources";
  if (req.hostPorts.some((p) => host.hostPorts.has(p))) return "ports";
  return undefined;
}

/** Why `host` cannot take one more task of the request, or undefined when it can. */
export function refusal(req: PlacementRequest, host: HostCandidate): Refusal | undefined {
  return staticRefusal(req, host) ?? roomRefusal(req, host);
}

/** "no suitable host (scheduling constraints not satisfied on 2 hosts; offline on 1 host)". */
export function pendingReason(req: PlacementRequest, hosts: readonly HostCandidate[]): string {
  if (hosts.length === 0) return "no suitable host (the team has no hosts)";
  const counts = new Map<Refusal, number>();
  for (const h of hosts) {
    const r = refusal(req, h);
    if (r) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const parts = [...counts].map(([r, n]) => `${REFUSAL_TEXT[r]} on ${n} host${n === 1 ? "" : "s"}`);
  return `no suitable host (${parts.join("; ")})`;
}

export type Placement = { hostId: string } | { pending: string };

/**
 * Places `count` tasks of one service. `hosts` is updated as tasks land (its counts, reservations
 * and ports), so the caller can place the next service against the same picture.
 */
export function place(req: PlacementRequest, hosts: HostCandidate[], count: number): Placement[] {
  const out: Placement[] = [];
  // Tasks of this service under each label value, per spread level.
  const branchCounts = req.spreadOver.map((key) => {
    const m = new Map<string, number>();
    for (const h of hosts) m.set(h.attrs.labels[key] ?? "", (m.get(h.attrs.labels[key] ?? "") ?? 0) + h.serviceTasks);
    return m;
  });
  const branch = (h: HostCandidate, level: number) => branchCounts[level]!.get(h.attrs.labels[req.spreadOver[level]!] ?? "") ?? 0;
  const before = (a: HostCandidate, b: HostCandidate): boolean => {
    const sa = a.recentFailures >= FAILURES_TO_SINK ? 1 : 0;
    const sb = b.recentFailures >= FAILURES_TO_SINK ? 1 : 0;
    if (sa !== sb) return sa < sb;
    for (let l = 0; l < branchCounts.length; l++) {
      const d = branch(a, l) - branch(b, l);
      if (d !== 0) return d < 0;
    }
    if (a.serviceTasks !== b.serviceTasks) return a.serviceTasks < b.serviceTasks;
    if (a.tasks !== b.tasks) return a.tasks < b.tasks;
    return a.attrs.name < b.attrs.name;
  };

  // What cannot change within this batch is judged once per host.
  const usable = hosts.filter((h) => staticRefusal(req, h) === undefined);
  const pending = (from: number) => {
    const reason = pendingReason(req, hosts);
    for (let i = from; i < count; i++) out.push({ pending: reason });
  };
  if (branchCounts.length === 0) {
    // A host's order depends on its own counts only: a heap gives the next host in log time.
    const heap = new HostHeap(before);
    for (const h of usable) if (roomRefusal(req, h) === undefined) heap.push(h);
    for (let i = 0; i < count; i++) {
      const best = heap.pop();
      if (!best) {
        pending(i);
        return out;
      }
      assign(req, best);
      out.push({ hostId: best.attrs.id });
      // Room only shrinks as tasks land, so a host without it is done for this batch.
      if (roomRefusal(req, best) === undefined) heap.push(best);
    }
    return out;
  }
  // Spread preferences: a placement changes the order of every host under the same label value.
  for (let i = 0; i < count; i++) {
    let best: HostCandidate | undefined;
    for (const h of usable) if (roomRefusal(req, h) === undefined && (best === undefined || before(h, best))) best = h;
    if (!best) {
      pending(i);
      return out;
    }
    assign(req, best);
    for (let l = 0; l < branchCounts.length; l++) {
      const value = best.attrs.labels[req.spreadOver[l]!] ?? "";
      branchCounts[l]!.set(value, (branchCounts[l]!.get(value) ?? 0) + 1);
    }
    out.push({ hostId: best.attrs.id });
  }
  return out;
}

/** A binary min-heap of hosts under the scheduler's order. */
class HostHeap {
  private readonly items: HostCandidate[] = [];
  constructor(private readonly before: (a: HostCandidate, b: HostCandidate) => boolean) {}

  // Sifts move a hole instead of swapping by destructuring: before the JIT has warmed up, a
  // destructuring swap goes through the array iterator, and a service of thousands paid for it.
  push(h: HostCandidate): void {
    const a = this.items;
    let i = a.length;
    a.push(h);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h, a[parent]!)) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = h;
  }

  pop(): HostCandidate | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const m = r < a.length && this.before(a[r]!, a[l]!) ? r : l;
      if (!this.before(a[m]!, last)) break;
      a[i] = a[m]!;
      i = m;
    }
    a[i] = last;
    return top;
  }
}

/** Counts one more task of the request on `host`. */
function assign(req: PlacementRequest, host: HostCandidate): void {
  host.serviceTasks++;
  host.tasks++;
  host.reserved = {
    nanoCpus: host.reserved.nanoCpus + (req.reservations.nanoCpus ?? 0),
    memoryBytes: host.reserved.memoryBytes + (req.reservations.memoryBytes ?? 0),
  };
  if (req.hostPorts.length) host.hostPorts = new Set([...host.hostPorts, ...req.hostPorts]);
}
