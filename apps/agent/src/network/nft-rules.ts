/*
 * The agent's nftables rules, all in its own tables (`ip berth`, `ip6 berth` while a network has
 * IPv6, and `bridge berth` for ICC), as one function of its networks: every change re-renders the
 * tables and replaces them in one atomic `nft -f` transaction, so the rules are always exactly
 * what the state says (idempotent at start-up, and nothing is left behind by a removed network).
 *
 * IPv6 follows IPv4 (isolation, the closed way in, masquerade out, published ports) with one
 * difference: the kernel has no route_localnet for IPv6 and drops a packet from ::1 that would
 * leave through the bridge, so ports published on `::` or `::1` are not DNATed when used on ::1;
 * the agent's own socket on the port takes those connections and relays them (ports.ts).
 */

export interface RuleNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** false: containers of this network may not talk to each other (bridged traffic between its ports is dropped). */
  icc: boolean;
  /** Host sides of the veths of its running containers. */
  ports: string[];
  /** Its IPv6 subnet, when it has IPv6. */
  subnet6?: string;
  /** Overlay networks: service VIPs, each balanced at random over its serving tasks' addresses. */
  vips?: { vip: string; backends: string[] }[];
  /** Overlay networks: this host's load-balancer address, the source of its connections to VIPs. */
  lbIp?: string;
  /**
   * The ingress network: ports every host opens, each to a serving task at random; the source is
   * rewritten (to lbIp) only towards tasks on other hosts, so a local task sees the client's address.
   */
  mesh?: { ports: { proto: "tcp" | "udp"; port: number; targetPort: number; backends: string[] }[]; remote: string[] };
}

/** A published port: traffic to hostIp:hostPort (any local address for 0.0.0.0 or ::) goes to the container (same family). */
export interface RulePort {
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

const q = (s: string) => `"${s}"`;

/** The filter rules of one family's forward chain: isolation between networks, and the closed way in. */
function forwardRules(networks: RuleNetwork[]): string[] {
  // Published ports are reachable from anywhere, other networks included (as through the host).
  const forward: string[] = ["ct status dnat accept"];
  for (const n of networks) {
    const br = q(n.bridge);
    if (n.internal) {
      // An internal network reaches nothing but itself, and nothing reaches it.
      forward.push(`iifname ${br} oifname != ${br} drop`, `oifname ${br} iifname != ${br} drop`);
    } else {
      // Networks are isolated from each other; the way out (masqueraded) stays open.
      forward.push(`iifname ${br} oifname != ${br} oifname @bridges drop`);
      // The way in is closed (Docker's DOCKER/DOCKER-ISOLATION model): a neighbour with a route to
      // the subnet reaches published ports only (accepted above, as DNAT), and replies. The host's
      // own traffic to its containers is output, not forward, so it is untouched.
      forward.push(`oifname ${br} iifname != ${br} ct state established,related accept`, `oifname ${br} iifname != ${br} drop`);
    }
  }
  return forward;
}

/** One family's table: sets, forward filter, published ports (DNAT), and masquerade. */
function familyTable(
  family: "ip" | "ip6",
  networks: RuleNetwork[],
  published: string[],
  post: string[],
  extra: string[],
  vipJump: string[] = [],
): string[] {
  return [
    `table ${family} berth {`,
    `  set bridges { type ifname; ${networks.length ? `elements = { ${networks.map((n) => q(n.bridge)).join(", ")} }` : ""} }`,
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    ...forwardRules(networks).map((r) => `    ${r}`),
    "  }",
    "  chain published {",
    ...published.map((r) => `    ${r}`),
    "  }",
    ...extra,
    // Incoming (other hosts, containers) and locally sent (the host itself) traffic to a local address.
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    ...vipJump.map((r) => `    ${r}`),
    "    fib daddr type local jump published",
    "  }",
    "  chain output {",
    "    type nat hook output priority -100; policy accept;",
    ...vipJump.map((r) => `    ${r}`),
    "    fib daddr type local jump published",
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    ...post.map((r) => `    ${r}`),
    "  }",
    "}",
  ];
}

/**
 * Service VIPs (overlay networks): a verdict map from VIP to a chain per service, which picks one
 * serving task at random (numgen) and DNATs to it; a service with none rejects at once. The
 * connection's source becomes the host's load-balancer address on that network, so the task's
 * replies come back here to be un-NATed, from whichever host it runs on. Conntrack keeps each
 * connection on its task for as long as conntrack keeps it (no shorter idle timeout is imposed).
 */
function vipRules(networks: RuleNetwork[]): { jump: string[]; chains: string[]; post: string[] } {
  const entries: string[] = [];
  const chains: string[] = [];
  const post: string[] = [];
  let i = 0;
  for (const n of networks) {
    if (!n.vips?.length || !n.lbIp) continue;
    for (const v of n.vips) {
      const chain = `svc-${i++}`;
      entries.push(`${v.vip} : jump ${chain}`);
      const pick =
        v.backends.length === 0
          ? "reject"
          : v.backends.length === 1
            ? `dnat ip to ${v.backends[0]}`
            : `dnat ip to numgen random mod ${v.backends.length} map { ${v.backends.map((b, k) => `${k} : ${b}`).join(", ")} }`;
      chains.push(`  chain ${chain} {`, `    ${pick}`, "  }");
    }
    post.push(`oifname ${q(n.bridge)} ct original ip daddr { ${n.vips.map((v) => v.vip).join(", ")} } snat ip to ${n.lbIp}`);
  }
  return { jump: entries.length ? [`ip daddr vmap { ${entries.join(", ")} }`] : [], chains, post };
}

/** The routing mesh's rules: DNAT for the `published` chain, and SNAT towards remote tasks only. */
function meshRules(networks: RuleNetwork[]): { published: string[]; post: string[] } {
  const published: string[] = [];
  const post: string[] = [];
  for (const n of networks) {
    if (!n.mesh || !n.lbIp) continue;
    for (const p of n.mesh.ports) {
      const to = (ip: string) => `${ip}:${p.targetPort}`;
      const pick =
        p.backends.length === 0
          ? "reject"
          : p.backends.length === 1
            ? `dnat ip to ${to(p.backends[0]!)}`
            : `dnat ip to numgen random mod ${p.backends.length} map { ${p.backends.map((b, k) => `${k} : ${b}`).join(", ")} } : ${p.targetPort}`;
      published.push(`${p.proto} dport ${p.port} ${pick}`);
    }
    if (n.mesh.remote.length)
      post.push(`oifname ${q(n.bridge)} ct status dnat ip daddr { ${n.mesh.remote.join(", ")} } snat ip to ${n.lbIp}`);
  }
  return { published, post };
}

export function renderRules(networks: RuleNetwork[], ports: RulePort[] = []): string {
  const vip = vipRules(networks);
  const mesh = meshRules(networks);
  // VIP and mesh connections take the load balancer's address before any other source NAT could match them.
  const post: string[] = [...vip.post, ...mesh.post];
  const post6: string[] = [];
  for (const n of networks) {
    const br = q(n.bridge);
    if (!n.internal) {
      post.push(`ip saddr ${n.subnet} oifname != ${br} masquerade`);
      if (n.subnet6) post6.push(`ip6 saddr ${n.subnet6} oifname != ${br} masquerade`);
    }
    // A published port used from the host itself (127.0.0.1) or from a container of the same
    // network (hairpin): the source is rewritten, so replies come back the way they went.
    post.push(`oifname ${br} ip saddr 127.0.0.0/8 masquerade`, `oifname ${br} ip saddr ${n.subnet} ct status dnat masquerade`);
    if (n.subnet6) post6.push(`oifname ${br} ip6 saddr ${n.subnet6} ct status dnat masquerade`);
  }
  const v6 = (p: RulePort) => p.hostIp.includes(":");
  const published = [
    ...ports
      .filter((p) => !v6(p))
      .map((p) => {
        const daddr = p.hostIp === "0.0.0.0" ? "" : `ip daddr ${p.hostIp} `;
        return `${daddr}${p.proto} dport ${p.hostPort} dnat to ${p.containerIp}:${p.containerPort}`;
      }),
    // The routing mesh's ports come after the containers' own (a host-mode port on this host wins).
    ...mesh.published,
  ];
  // ::1 is left to the agent's socket on the port (see above); "::" means every other local address.
  const published6 = ports
    .filter((p) => v6(p) && p.hostIp !== "::1")
    .map(
      (p) =>
        `ip6 daddr ${p.hostIp === "::" ? "!= ::1" : p.hostIp} ${p.proto} dport ${p.hostPort} dnat to [${p.containerIp}]:${p.containerPort}`,
    );
  const ipTable = familyTable(
    "ip",
    networks,
    published,
    post,
    [
      // Bridges have route_localnet (for 127.0.0.1-published ports, see bringUp), so a container that
      // routes 127.0.0.0/8 to its gateway would reach the host's loopback services; and a neighbour
      // sending to 127.0.0.1 from any interface would be DNATed into a 127.0.0.1-only published port
      // before the kernel's martian check sees it. Only the host itself sends to 127/8 (through lo):
      // anything else is dropped before conntrack and DNAT. The replies of a published port used on
      // 127.0.0.1 are unaffected: here they are still addressed to the bridge's gateway (their
      // masquerade is undone later, at dstnat).
      "  chain loopback {",
      "    type filter hook prerouting priority raw; policy accept;",
      '    iif != "lo" ip daddr 127.0.0.0/8 drop',
      "  }",
      ...vip.chains,
    ],
    vip.jump,
  );
  // The IPv6 table exists while a network has IPv6 (the others' containers have link-local addresses only).
  const ip6Table = networks.some((n) => n.subnet6) ? familyTable("ip6", networks, published6, post6, []) : [];
  // Traffic between two containers of one bridge is bridged, not routed: with ICC off it is
  // dropped in the bridge family, by the veth ports of that network's containers.
  const noIcc = networks.filter((n) => !n.icc && n.ports.length > 0);
  const bridgeTable = noIcc.length
    ? [
        "table bridge berth {",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        ...noIcc.map((n) => {
          const set = `{ ${n.ports.map(q).join(", ")} }`;
          return `    iifname ${set} oifname ${set} drop`;
        }),
        "  }",
        "}",
      ]
    : [];
  // Declaring a table first makes its delete valid when it does not exist yet.
  return [...TEARDOWN, ...ipTable, ...ip6Table, ...bridgeTable, ""].join("\n");
}

const TEARDOWN = [
  "table ip berth {}",
  "delete table ip berth",
  "table ip6 berth {}",
  "delete table ip6 berth",
  "table bridge berth {}",
  "delete table bridge berth",
];

/** Removes the agent's tables (when it has no bridge network left). */
export function renderTeardown(): string {
  return [...TEARDOWN, ""].join("\n");
}
