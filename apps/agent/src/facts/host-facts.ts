import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { statfsSync } from "node:fs";
import os from "node:os";
import { promisify } from "node:util";
import type { HostFacts } from "@berth/protocol";
import { hostPlatform } from "../registry/index.ts";

const run = promisify(execFile);

async function osRelease(): Promise<HostFacts["os"]> {
  const text = await readFile("/etc/os-release", "utf8").catch(() => "");
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1]!, m[2]!.replace(/^"(.*)"$/, "$1"));
  }
  return {
    id: kv.get("ID") ?? "linux",
    name: kv.get("NAME") ?? "Linux",
    version: kv.get("VERSION_ID") ?? "",
    prettyName: kv.get("PRETTY_NAME") ?? "Linux",
  };
}

/** First line of `<bin> --version`, trimmed to the version token; null when not installed. */
async function toolVersion(bin: string, pattern: RegExp): Promise<string | null> {
  try {
    const { stdout } = await run(bin, ["--version"], { timeout: 5_000 });
    const m = pattern.exec(stdout);
    return m?.[1] ?? (stdout.split("\n")[0]?.trim() || null);
  } catch {
    return null;
  }
}

function addresses(): HostFacts["addresses"] {
  const out: HostFacts["addresses"] = [];
  for (const [iface, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv6" && a.address.startsWith("fe80:")) continue;
      out.push({ iface, family: a.family, address: a.address });
    }
  }
  return out.slice(0, 256);
}

export async function collectHostFacts(diskPath: string): Promise<HostFacts> {
  const [osInfo, runc, conmon, nft] = await Promise.all([
    osRelease(),
    toolVersion("runc", /runc version (\S+)/),
    toolVersion("conmon", /conmon version (\S+)/),
    toolVersion("nft", /nftables v(\S+)/),
  ]);
  let disk = { path: diskPath, totalBytes: 0, freeBytes: 0 };
  try {
    const s = statfsSync(diskPath);
    disk = { path: diskPath, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    // the state dir may not exist yet; report zeroes rather than fail the link
  }
  return {
    hostname: os.hostname(),
    os: osInfo,
    kernel: os.release(),
    arch: hostPlatform().architecture,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    disk,
    addresses: addresses(),
    versions: { runc, conmon, nft },
  };
}
