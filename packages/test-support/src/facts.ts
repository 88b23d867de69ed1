import type { HostFacts } from "@berth/protocol";

export function fakeFacts(hostname = "sim"): HostFacts {
  return {
    hostname,
    os: { id: "debian", name: "Debian GNU/Linux", version: "12", prettyName: "Debian GNU/Linux 12 (bookworm)" },
    kernel: "6.1.0-test",
    arch: "amd64",
    cpus: 4,
    memoryBytes: 8 * 2 ** 30,
    disk: { path: "/var/lib/berth", totalBytes: 100 * 2 ** 30, freeBytes: 60 * 2 ** 30 },
    addresses: [{ iface: "eth0", family: "IPv4", address: "127.0.0.1" }],
    versions: { runc: "1.1.5", conmon: "2.1.6", nft: "1.0.6" },
  };
}
