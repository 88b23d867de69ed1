/*
 * The agent's nftables rules, all in its own table (`ip berth`), as
 * one function of its networks: every change re-renders the whole table and replaces it in one
 * atomic `nft -f` transaction, so the rules are always exactly what the state says (idempotent at
 * start-up, and nothing is left behind by a removed network).
 */

export interface RuleNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
}

export function renderRules(networks: RuleNetwork[]): string {
  const q = (s: string) => `"${s}"`;
  const bridges = networks.map((n) => q(n.bridge));
  const forward: string[] = [];
  const post: string[] = [];
  for (const n of networks) {
    const br = q(n.bridge);
    if (n.internal) {
      // An internal network reaches nothing but itself, and nothing reaches it.
      forward.push(`iifname ${br} oifname != ${br} drop`, `oifname ${br} iifname != ${br} drop`);
    } else {
      // Networks are isolated from each other; the way out (masqueraded) stays open.
      forward.push(`iifname ${br} oifname != ${br} oifname @bridges drop`);
      post.push(`ip saddr ${n.subnet} oifname != ${br} masquerade`);
    }
  }
  const ipTable = [
    "table ip berth {",
    `  set bridges { type ifname; ${bridges.length ? `elements = { ${bridges.join(", ")} }` : ""} }`,
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    ...forward.map((r) => `    ${r}`),
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    ...post.map((r) => `    ${r}`),
    "  }",
    "}",
  ];
  // Declaring the table first makes the delete valid when it does not exist yet.
  return ["table ip berth {}", "delete table ip berth", ...ipTable, ""].join("\n");
}

/** Removes the agent's tables (when it has no bridge network left). */
export function renderTeardown(): string {
  return ["table ip berth {}", "delete table ip berth", ""].join("\n");
}
