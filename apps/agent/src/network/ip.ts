import { execFile } from "node:child_process";

/*
 * iproute2 and nftables, run with argument arrays. Several `ip` commands go through one
 * `ip -batch -` process (one process per step of a container's start matters for its latency);
 * batch lines are split on whitespace by ip itself, never by a shell, and every value in them is
 * one this layer generated or validated (interface names, addresses, prefixes).
 */

import { NetworkCommandError } from "./errors.ts";

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err) reject(new NetworkCommandError(`${cmd} ${args.join(" ")}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs `ip` commands in one process; in the network namespace of process `pid` when given. */
export async function ipBatch(lines: string[], pid?: number): Promise<void> {
  if (lines.length === 0) return;
  for (const l of lines) if (/[\n;#]/.test(l)) throw new NetworkCommandError(`refusing an ip batch line: ${l}`);
  const text = `${lines.join("\n")}\n`;
  if (pid === undefined) await run("ip", ["-batch", "-"], text);
  else await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-batch", "-"], text);
}

/**
 * Writes `value` to files of the network namespace of process `pid`: /proc/sys/net shows the
 * namespace of the process that opens it, so the writer (tee, no shell) runs in that namespace.
 */
export async function nsWrite(pid: number, files: string[], value: string): Promise<void> {
  for (const f of files)
    if (!/^\/proc\/sys\/net\/[a-zA-Z0-9_./-]+$/.test(f) || f.includes("..")) throw new NetworkCommandError(`refusing to write ${f}`);
  await run("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "tee", ...files], value);
}

/** Runs `bridge` commands (FDB entries) in one process. */
export async function bridgeBatch(lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  for (const l of lines) if (/[\n;#]/.test(l)) throw new NetworkCommandError(`refusing a bridge batch line: ${l}`);
  await run("bridge", ["-batch", "-"], `${lines.join("\n")}\n`);
}

export async function bridgeCommand(args: string[]): Promise<string> {
  return run("bridge", args);
}

export async function ip(args: string[]): Promise<string> {
  return run("ip", args);
}

/** wireguard-tools' `wg` (the kernel's WireGuard, or wireguard-go's socket for the interface). */
export async function wg(args: string[]): Promise<string> {
  return run("wg", args);
}

/** Applies an nftables script atomically (`nft -f -`: all of it or nothing). */
export async function nft(script: string): Promise<void> {
  await run("nft", ["-f", "-"], script);
}

/** Interface names: at most 15 bytes, and only characters every tool accepts. */
export function checkIfName(name: string): string {
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(name)) throw new NetworkCommandError(`invalid interface name: ${name}`);
  return name;
}
