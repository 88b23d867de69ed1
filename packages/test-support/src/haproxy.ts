// Debian's HAProxy as the load balancer in front of control-plane replicas: TCP passthrough (so
// agents still see and pin the replicas' own certificate), each replica checked on /healthz
// (a replica that cannot reach Postgres answers 503 and is taken out), and a connection to a dead
// replica retried on another.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accepts, waitFor } from "./wait.ts";

export interface LoadBalancer {
  /** What clients dial: scheme://host:port. */
  url: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startHaproxy(o: {
  host: string;
  port: number;
  /** The replicas' URLs (https: checked over TLS). */
  backends: string[];
  /** How often each replica's /healthz is asked. */
  checkMs?: number;
}): Promise<LoadBalancer> {
  const dir = mkdtempSync(join(tmpdir(), "berth-haproxy-"));
  const https = o.backends.every((b) => b.startsWith("https:"));
  const servers = o.backends.map((b, i) => {
    const u = new URL(b);
    return `  server cp${i} ${u.hostname}:${u.port} check ${https ? "check-ssl verify none " : ""}inter ${o.checkMs ?? 500} fall 2 rise 2`;
  });
  const config = [
    "global",
    // Each connection takes two descriptors; the hard limit of open files here is 20000.
    "  maxconn 8000",
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 1h",
    "  timeout server 1h",
    "  timeout check 2s",
    "  retries 3",
    "  option redispatch",
    "frontend control_plane",
    `  bind ${o.host}:${o.port}`,
    "  default_backend replicas",
    "backend replicas",
    "  balance leastconn",
    "  option httpchk GET /healthz",
    "  http-check expect status 200",
    ...servers,
    "",
  ].join("\n");
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config);
  const lines: string[] = [];
  const proc: ChildProcess = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  for (const s of [proc.stdout!, proc.stderr!])
    s.on("data", (d: Buffer) => {
      lines.push(d.toString());
      if (lines.length > 200) lines.shift();
    });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("haproxy listening", () => proc.exitCode === null && accepts(o.host, o.port), 10_000, 100);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}: ${lines.join("")}`);
  }
  return { url: `${https ? "https" : "http"}://${o.host}:${o.port}`, output: () => lines.join(""), stop };
}
