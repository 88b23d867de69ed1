import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceSpecSchema, describeSpecIssues } from "../src/services/spec.ts";
import { ConstraintError, constraintHolds, parseConstraint, type HostAttributes } from "../src/services/constraints.ts";
import { type HostCandidate, type PlacementRequest, place, pendingReason } from "../src/services/placement.ts";

const GiB = 1024 ** 3;

function host(name: string, over: Partial<HostCandidate> & { labels?: Record<string, string> } = {}): HostCandidate {
  const { labels, ...rest } = over;
  return {
    attrs: { id: `id-${name}`, name, labels: labels ?? {}, os: "linux", arch: "amd64" },
    online: true,
    availability: "active",
    capacity: { nanoCpus: 2e9, memoryBytes: 4 * GiB },
    reserved: { nanoCpus: 0, memoryBytes: 0 },
    tasks: 0,
    serviceTasks: 0,
    hostPorts: new Set(),
    recentFailures: 0,
    ...rest,
  };
}

const request = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
  constraints: [],
  spreadOver: [],
  maxReplicasPerHost: 0,
  reservations: {},
  hostPorts: [],
  ...over,
});

const hostsOf = (placements: ReturnType<typeof place>) => placements.map((p) => ("hostId" in p ? p.hostId : `pending: ${p.pending}`));
const tally = (placements: ReturnType<typeof place>) => {
  const m: Record<string, number> = {};
  for (const h of hostsOf(placements)) m[h] = (m[h] ?? 0) + 1;
  return m;
};

test("a spec gets Swarm's defaults, and bad fields are named", () => {
  const spec = ServiceSpecSchema.parse({ name: "web", task: { image: "nginx:1.27" } });
  assert.deepEqual(spec.mode, { kind: "replicated", replicas: 1 });
  assert.deepEqual(spec.task.restartPolicy, { condition: "any", delayMs: 5000, maxAttempts: 0, windowMs: 0 });
  assert.deepEqual(spec.updateConfig, {
    parallelism: 1,
    delayMs: 0,
    failureAction: "pause",
    monitorMs: 5000,
    maxFailureRatio: 0,
    order: "stop-first",
  });
  assert.deepEqual(spec.rollbackConfig, spec.updateConfig);
  assert.equal(spec.task.stopGracePeriodMs, 10_000);

  const bad = ServiceSpecSchema.safeParse({
    name: "web",
    mode: { kind: "replicated", replicas: -1 },
    task: { image: "Not A Reference", placement: { constraints: ["node.colour==red"] } },
  });
  assert.equal(bad.success, false);
  const message = describeSpecIssues(bad.error!);
  assert.match(message, /mode\.replicas: .*>=0/);
  assert.match(message, /task\.image: invalid image reference/);
  assert.match(message, /task\.placement\.constraints\.0: constraint "node\.colour==red": unknown key node\.colour/);

  const unknown = ServiceSpecSchema.safeParse({ name: "web", task: { image: "nginx", replicas: 3 } });
  assert.match(describeSpecIssues(unknown.error!), /task: Unrecognized key: "replicas"/);
  const twice = ServiceSpecSchema.safeParse({
    name: "web",
    task: { image: "nginx" },
    endpoint: {
      ports: [
        { target: 80, published: 8080 },
        { target: 81, published: 8080 },
      ],
    },
  });
  assert.match(describeSpecIssues(twice.error!), /endpoint\.ports\.1\.published: port 8080\/tcp is published twice/);
  const ingress = ServiceSpecSchema.safeParse({
    name: "web",
    task: { image: "nginx" },
    endpoint: { ports: [{ target: 80, publishMode: "ingress" }] },
  });
  // Without its number an ingress port is valid: the control plane picks one (ingress-ports.test.ts).
  assert.equal(ingress.success, true);
  assert.equal(ServiceSpecSchema.safeParse({ name: "-web", task: { image: "nginx" } }).success, false);
});

test("constraints: Swarm's keys and operators, labels, case and architecture names", () => {
  const h: HostAttributes = { id: "h1", name: "alpha", labels: { zone: "A" }, os: "linux", arch: "amd64" };
  assert.ok(constraintHolds(parseConstraint("node.labels.zone==a"), h));
  assert.ok(!constraintHolds(parseConstraint("node.labels.zone != a"), h));
  assert.ok(constraintHolds(parseConstraint("node.labels.rack!=r1"), h), "a missing label is unequal to everything");
  assert.ok(!constraintHolds(parseConstraint("node.labels.rack==r1"), h));
  assert.ok(constraintHolds(parseConstraint("node.hostname==alpha"), h));
  assert.ok(constraintHolds(parseConstraint("node.id!=h2"), h));
  assert.ok(constraintHolds(parseConstraint("node.platform.arch==x86_64"), h));
  assert.ok(constraintHolds(parseConstraint("node.platform.os==linux"), h));
  assert.ok(constraintHolds(parseConstraint("node.role==worker"), h));
  assert.throws(() => parseConstraint("engine.labels.os==ubuntu"), /node labels, not engine labels/);
  assert.throws(() => parseConstraint("node.labels.zone=a"), ConstraintError);
  assert.throws(() => parseConstraint("node.labels.zone=="), /has no value/);
});

test("spread: 6 replicas on 3 hosts land 2/2/2, and the next service evens out the totals", () => {
  const hosts = [host("a"), host("b"), host("c")];
  assert.deepEqual(tally(place(request(), hosts, 6)), { "id-a": 2, "id-b": 2, "id-c": 2 });
  // A second service of 2 starts from fresh per-service counts but sees every host's total.
  for (const h of hosts) h.serviceTasks = 0;
  hosts[0]!.tasks += 3;
  assert.deepEqual(tally(place(request(), hosts, 2)), { "id-b": 1, "id-c": 1 });
});

test("filters: constraints, availability, offline, reservations, ports, platform and max per host", () => {
  const zoneA = [host("a1", { labels: { zone: "a" } }), host("b1", { labels: { zone: "b" } }), host("a2", { labels: { zone: "a" } })];
  assert.deepEqual(tally(place(request({ constraints: [parseConstraint("node.labels.zone==a")] }), zoneA, 4)), { "id-a1": 2, "id-a2": 2 });

  const mixed = [
    host("drained", { availability: "drain" }),
    host("paused", { availability: "pause" }),
    host("down", { online: false }),
    host("ok"),
  ];
  assert.deepEqual(tally(place(request(), mixed, 3)), { "id-ok": 3 });

  // 1.5 GiB each on two 4 GiB hosts: two fit on each, the fifth waits with the reason.
  const small = [host("m1"), host("m2")];
  const placed = place(request({ reservations: { memoryBytes: 1.5 * GiB } }), small, 5);
  assert.deepEqual(hostsOf(placed).slice(0, 4).sort(), ["id-m1", "id-m1", "id-m2", "id-m2"]);
  assert.deepEqual(placed[4], { pending: "no suitable host (insufficient resources on 2 hosts)" });

  const ports = [host("p1", { hostPorts: new Set(["8080/tcp"]) }), host("p2"), host("p3")];
  const portPlaced = place(request({ hostPorts: ["8080/tcp"] }), ports, 3);
  assert.deepEqual(hostsOf(portPlaced).slice(0, 2).sort(), ["id-p2", "id-p3"]);
  assert.deepEqual(portPlaced[2], { pending: "no suitable host (host-mode port already in use on 3 hosts)" });

  const arm = [host("x86"), host("arm", { attrs: { id: "id-arm", name: "arm", labels: {}, os: "linux", arch: "arm64" } })];
  assert.deepEqual(tally(place(request({ platforms: [{ os: "linux", arch: "aarch64" }] }), arm, 2)), { "id-arm": 2 });

  assert.deepEqual(hostsOf(place(request({ maxReplicasPerHost: 1 }), [host("one"), host("two")], 3)), [
    "id-one",
    "id-two",
    "pending: no suitable host (max replicas per host reached on 2 hosts)",
  ]);
  assert.equal(
    pendingReason(request({ constraints: [parseConstraint("node.labels.zone==z")] }), [...zoneA, host("off", { online: false })]),
    "no suitable host (scheduling constraints not satisfied on 3 hosts; offline on 1 host)",
  );
  assert.equal(pendingReason(request(), []), "no suitable host (the team has no hosts)");
});

test("order: spread preferences split over label values first; hosts failing this service sink", () => {
  // Zone a has three hosts, zone b one: spreading over zones puts half the tasks in b.
  const hosts = [
    host("a1", { labels: { zone: "a" } }),
    host("a2", { labels: { zone: "a" } }),
    host("a3", { labels: { zone: "a" } }),
    host("b1", { labels: { zone: "b" } }),
  ];
  assert.deepEqual(tally(place(request({ spreadOver: ["zone"] }), hosts, 4)), { "id-a1": 1, "id-a2": 1, "id-b1": 2 });

  const failing = [host("bad", { recentFailures: 5 }), host("good", { tasks: 10 })];
  assert.deepEqual(tally(place(request(), failing, 2)), { "id-good": 2 });
  // Sinking is an order, not a filter: with nowhere else to go, the failing host still gets the task.
  assert.deepEqual(hostsOf(place(request(), [host("bad", { recentFailures: 9 })], 1)), ["id-bad"]);
});

test("3,000 tasks on 1,000 hosts are placed evenly", () => {
  const hosts = Array.from({ length: 1000 }, (_, i) => host(`h${String(i).padStart(4, "0")}`, { tasks: i % 7 }));
  const placed = place(request(), hosts, 3000);
  const counts = Object.values(tally(placed));
  assert.equal(counts.length, 1000);
  assert.ok(counts.every((n) => n === 3));
});
